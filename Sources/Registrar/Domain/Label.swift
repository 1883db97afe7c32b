/// The label an admin gives an admin key or an initial access token to recognise it by.
///
/// Its length is counted in Unicode code points, as PostgreSQL's `length()` counts the characters
/// of a UTF-8 database in the columns' `CHECK (length(label) <= 200)`. Swift's `count` counts
/// grapheme clusters instead, and a flag emoji is one grapheme of two code points: counting
/// graphemes let 150 flags through to a constraint that refuses them.
public enum Label {
    public static let maximumLength = 200

    /// Refuses a label the database would not store, naming the field.
    public static func check(_ label: String, field: String = "label") throws(PolicyError) {
        guard label.unicodeScalars.count <= maximumLength else {
            throw PolicyError(field: field, reason: "must be at most \(maximumLength) characters (Unicode code points)")
        }
        guard !label.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw PolicyError(field: field, reason: "must not contain control characters")
        }
    }
}

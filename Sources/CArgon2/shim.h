#ifndef REGISTRAR_CARGON2_SHIM_H
#define REGISTRAR_CARGON2_SHIM_H
#include <argon2.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * One block region per hashing thread, mapped on its first hash and reused by every later one,
 * so that a hash does not map and fault in m KiB afresh (4,864 page faults at m = 19 MiB).
 * libargon2's allocate callback has no context argument, hence the thread-local.
 * libargon2 still wipes the blocks after each hash (FLAG_clear_internal_memory) before "freeing".
 */
static _Thread_local uint8_t *registrar_argon2_region = NULL;
static _Thread_local size_t registrar_argon2_region_size = 0;

/* Unmaps this thread's region (a pool thread calls it when it exits). */
static inline void registrar_argon2_release_region(void) {
    if (registrar_argon2_region != NULL) {
        munmap(registrar_argon2_region, registrar_argon2_region_size);
    }
    registrar_argon2_region = NULL;
    registrar_argon2_region_size = 0;
}

/* allocate_cbk: hands out the thread's region, growing it when a hash needs more memory. */
static inline int registrar_argon2_allocate(uint8_t **memory, size_t bytes) {
    if (registrar_argon2_region_size < bytes) {
        registrar_argon2_release_region();
        void *region = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED) {
            *memory = NULL;
            return ARGON2_MEMORY_ALLOCATION_ERROR;
        }
        registrar_argon2_region = (uint8_t *)region;
        registrar_argon2_region_size = bytes;
    }
    *memory = registrar_argon2_region;
    return ARGON2_OK;
}

/* free_cbk: the region is kept for the thread's next hash. */
static inline void registrar_argon2_keep(uint8_t *memory, size_t bytes) {
    (void)memory;
    (void)bytes;
}

/* The size of this thread's region, 0 before its first libargon2 hash. */
static inline size_t registrar_argon2_region_bytes(void) { return registrar_argon2_region_size; }

/* The kernel's id of the calling thread (per-thread nice values are set by it). */
static inline pid_t registrar_thread_id(void) { return (pid_t)syscall(SYS_gettid); }

/* Linux keeps a nice value per thread: PRIO_PROCESS with a thread id sets that thread's only. */
static inline int registrar_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)registrar_thread_id(), nice);
}

static inline int registrar_thread_nice(void) {
    return getpriority(PRIO_PROCESS, (id_t)registrar_thread_id());
}

#ifndef RUSAGE_THREAD
#define RUSAGE_THREAD 1 /* Linux's value; <sys/resource.h> declares it only with _GNU_SOURCE. */
#endif

/* Minor page faults of the calling thread so far. */
static inline long registrar_thread_minor_faults(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_THREAD, &usage) != 0) return -1;
    return usage.ru_minflt;
}
#endif
#endif

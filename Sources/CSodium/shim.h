#ifndef REGISTRAR_CSODIUM_SHIM_H
#define REGISTRAR_CSODIUM_SHIM_H
/* libsodium's argon2id (runtime-dispatched SSSE3/AVX2/AVX-512 code), used for p = 1. */
#include <sodium.h>
#endif

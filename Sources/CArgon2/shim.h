#ifndef REGISTRAR_CARGON2_SHIM_H
#define REGISTRAR_CARGON2_SHIM_H
#include <argon2.h>
#if defined(__linux__)
/* mallopt: argon2's large blocks are handed back to the system after each hash. */
#include <malloc.h>
#endif
#endif

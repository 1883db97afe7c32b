#ifndef REGISTRAR_CARGON2_SHIM_H
#define REGISTRAR_CARGON2_SHIM_H
#include <argon2.h>
#endif

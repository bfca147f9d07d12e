#ifndef WIRECAP_CNUMA_SHIM_H
#define WIRECAP_CNUMA_SHIM_H
#include <numa.h>
#endif

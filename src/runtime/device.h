/* device.h - device API tables (public part in mlcc/mlcc_runtime.h). */
#ifndef MLCC_RUNTIME_DEVICE_H
#define MLCC_RUNTIME_DEVICE_H

#include "mlcc/mlcc_runtime.h"

/* The table that copies between src and dst: the non-CPU side's (the CPU's if both are CPU). */
const MLCCDeviceAPI *mlcc_copy_api(DLDevice src, DLDevice dst);

#endif

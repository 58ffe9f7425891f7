/* ndarray.h - storages and NDArrays: refcounted device memory and compact DLTensors placed in
 * it. The API is public (mlcc/mlcc_runtime.h); this header is what runtime code includes. */
#ifndef MLCC_RUNTIME_NDARRAY_H
#define MLCC_RUNTIME_NDARRAY_H

#include "mlcc/mlcc_runtime.h"
#include "runtime/object.h"

/* The NDArray behind an object value, or NULL. */
#define MLCC_AS_NDARRAY(obj) MLCC_OBJECT_AS(obj, MLCC_OBJECT_NDARRAY, MLCCNDArray)

#endif

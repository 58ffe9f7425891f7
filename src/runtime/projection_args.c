/* projection_args.c - the argument checks the library projections share (see projection_args.h). */
#include "runtime/projection_args.h"

#include "support/error.h"

int projection_is_dtype(const DLTensor *t, int code, int bits) {
    return t->dtype.code == code && t->dtype.bits == bits && t->dtype.lanes == 1;
}

void *projection_data(const DLTensor *t) {
    return (char *)t->data + t->byte_offset;
}

int projection_args_read(const char *fn, int device_type, const char *device, const char *what, const MLCCValue *args,
                         const int *codes, int n, int nw, projection_args *p) {
    DLTensor *t[2 + PROJECTION_MAX_WEIGHTS];
    if (nw < 1 || nw > PROJECTION_MAX_WEIGHTS) return mlcc_set_error("%s: %d weight tensors", fn, nw);
    if (mlcc_check_num_args(n, 2 + nw)) return -1;
    for (int i = 0; i < 2 + nw; i++)
        if (mlcc_arg_tensor(args, codes, n, i, &t[i])) return -1;
    for (int i = 0; i < 2 + nw; i++)
        if ((int)t[i]->device.device_type != device_type || t[i]->device.device_id != t[0]->device.device_id)
            return mlcc_set_error("%s: %s must be on one %s device", fn, what, device);
    p->x = t[0], p->y = t[1 + nw];
    for (int i = 0; i < nw; i++) p->w[i] = t[1 + i];
    const DLTensor *x = p->x, *y = p->y;
    if (x->ndim < 1 || y->ndim != x->ndim) return mlcc_set_error("%s: wants x[..., in] and y[..., out] of one rank", fn);
    p->in = x->shape[x->ndim - 1], p->out = y->shape[y->ndim - 1], p->rows = 1;
    for (int i = 0; i + 1 < x->ndim; i++) {
        if (x->shape[i] != y->shape[i]) return mlcc_set_error("%s: x and y rows differ (axis %d)", fn, i);
        p->rows *= x->shape[i];
    }
    for (int i = 0; i < 2 + nw; i++)
        if (t[i]->strides) return mlcc_set_error("%s: wants compact tensors", fn);
    return 0;
}

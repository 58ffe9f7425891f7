/* pdl_check.h - checks the programmatic-dependent-launch convention (runtime/cuda_pdl.h) on a
 * kernel source's PTX: every entry the source declares as waiting contains griddepcontrol.wait
 * (else an early start could read what the previous kernel has not written yet). */
#ifndef MLCC_TESTS_PDL_CHECK_H
#define MLCC_TESTS_PDL_CHECK_H

/* Compiles source for sm_90 and checks each .entry; *declared gets the number of entries
 * declared as waiting. Returns the number of declared entries without the wait (names printed),
 * or -1 when the source does not compile. */
int pdl_check_source(const char *source, int *declared);

#endif

#ifndef CELEMENTARY_ADAM_H
#define CELEMENTARY_ADAM_H
#include <stddef.h>
#include <stdint.h>

// Adam's update of one segment on AVX-512F or AVX2, for the x86-64 hosts that have them (Core is
// built for baseline x86-64: SSE, 4 lanes). Each variant computes, lane by lane, the operations
// of `Adam.update` in Core's UpdateRules.swift in its order: IEEE +, −, ×, ÷ and √ are correctly
// rounded in each lane, nothing is fused into FMA (the file is compiled without contraction and
// no variant targets "fma") and no division becomes a multiplication, so the bits are the same.

/// One segment: W, Σ and the moments read, the next W and moments written (`out` may be `w`,
/// `out_first` `first` and `out_second` `second`: every value is read before its index is
/// written). The constants are Swift's `AdamSegment`'s.
typedef struct {
    const float *w, *sum, *first, *second;
    float *out, *out_first, *out_second;
    float m, alpha, decay, beta1, beta2, epsilon, correction1, correction2;
} descent_adam_segment;

/// The variants this CPU runs (and its operating system saves the registers of).
enum { DESCENT_ADAM_AVX2 = 1, DESCENT_ADAM_AVX512 = 2 };

/// `DESCENT_ADAM_AVX2` and `DESCENT_ADAM_AVX512`, or-ed, for the variants this host can run; 0
/// on other architectures.
unsigned descent_adam_variants(void);

/// Values 0..<count of `segment` updated with AVX-512F; the finiteness marks of the next W and
/// the next second moment, or-ed (Core's `Finiteness`). Only where `descent_adam_variants` has
/// `DESCENT_ADAM_AVX512`.
uint32_t descent_adam_avx512(const descent_adam_segment *segment, ptrdiff_t count);

/// The same with AVX2, where `descent_adam_variants` has `DESCENT_ADAM_AVX2`.
uint32_t descent_adam_avx2(const descent_adam_segment *segment, ptrdiff_t count);

#endif

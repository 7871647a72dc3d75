#ifndef CELEMENTARY_LANES_H
#define CELEMENTARY_LANES_H

// Square roots of a vector of Floats, lane by lane, for Swift's SIMD types (an ext_vector_type
// of Floats is imported as SIMD4<Float>, SIMD8<Float>…). Swift's own `squareRoot()` calls the C
// library's sqrtf one lane at a time, which may set errno, so no loop that takes one vectorises;
// this is llvm.sqrt on the vector: sqrtps on x86-64, fsqrt on arm64. IEEE square roots are
// correctly rounded, so every lane has the bits sqrtf gives. Inline, so it costs no call.

typedef float descent_float8 __attribute__((ext_vector_type(8)));

static inline __attribute__((always_inline)) descent_float8 descent_sqrt8(descent_float8 x) {
    return __builtin_elementwise_sqrt(x);
}

#endif

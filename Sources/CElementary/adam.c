// Adam's update of a segment on AVX-512F (16 lanes) and AVX2 (8 lanes), chosen at run time
// (adam.h). Each lane computes what a lane of Swift's `Adam.update` computes, in its order; a
// segment's last values go through masked loads and stores, the other lanes computed on zeros
// and neither written nor marked, as Swift's `FirstLanes` does.
#pragma clang fp contract(off)
#include "adam.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define AVX2 __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline))

// Core's `Finiteness`: a value's mark is (bits & EXPONENT_MASK) + EXPONENT_UNIT, bit 31 set
// exactly when it is infinite or NaN.
static const int EXPONENT_MASK = 0x7f800000;
static const int EXPONENT_UNIT = 0x00800000;

unsigned descent_adam_variants(void) {
    __builtin_cpu_init();
    unsigned variants = 0;
    if (__builtin_cpu_supports("avx2")) variants |= DESCENT_ADAM_AVX2;
    if (__builtin_cpu_supports("avx512f")) variants |= DESCENT_ADAM_AVX512;
    return variants;
}

// MARK: AVX-512F

/// The lanes `lanes` of the 16 values from i updated and written; their marks (0 in the other
/// lanes). `divide1` and `divide2`, constants once inlined: whether a correction divides, as in
/// Swift's `DividedBy` and `One`.
INLINE AVX512 __m512i adam512(
    const descent_adam_segment *a, ptrdiff_t i, __mmask16 lanes, int divide1, int divide2) {
    __m512 w = _mm512_maskz_loadu_ps(lanes, a->w + i);
    __m512 sum = _mm512_maskz_loadu_ps(lanes, a->sum + i);
    __m512 g = _mm512_add_ps(
        _mm512_div_ps(sum, _mm512_set1_ps(a->m)), _mm512_mul_ps(_mm512_set1_ps(a->decay), w));
    __m512 first = _mm512_add_ps(
        _mm512_mul_ps(_mm512_set1_ps(a->beta1), _mm512_maskz_loadu_ps(lanes, a->first + i)),
        _mm512_mul_ps(_mm512_set1_ps(1 - a->beta1), g));
    __m512 second = _mm512_add_ps(
        _mm512_mul_ps(_mm512_set1_ps(a->beta2), _mm512_maskz_loadu_ps(lanes, a->second + i)),
        _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(1 - a->beta2), g), g));
    __m512 corrected1 = divide1 ? _mm512_div_ps(first, _mm512_set1_ps(a->correction1)) : first;
    __m512 corrected2 = divide2 ? _mm512_div_ps(second, _mm512_set1_ps(a->correction2)) : second;
    __m512 step = _mm512_div_ps(
        _mm512_mul_ps(_mm512_set1_ps(a->alpha), corrected1),
        _mm512_add_ps(_mm512_sqrt_ps(corrected2), _mm512_set1_ps(a->epsilon)));
    __m512 next = _mm512_sub_ps(w, step);
    _mm512_mask_storeu_ps(a->out_first + i, lanes, first);
    _mm512_mask_storeu_ps(a->out_second + i, lanes, second);
    _mm512_mask_storeu_ps(a->out + i, lanes, next);
    __m512i mask = _mm512_set1_epi32(EXPONENT_MASK), unit = _mm512_set1_epi32(EXPONENT_UNIT);
    __m512i marks = _mm512_or_si512(
        _mm512_add_epi32(_mm512_and_si512(_mm512_castps_si512(next), mask), unit),
        _mm512_add_epi32(_mm512_and_si512(_mm512_castps_si512(second), mask), unit));
    return _mm512_maskz_mov_epi32(lanes, marks);
}

/// Values 0..<count updated 16 at a time, then the rest in the first lanes of one more vector;
/// their marks, or-ed. `a` is a copy, so that no store can change it and its constants stay in
/// registers.
INLINE AVX512 uint32_t run512(
    descent_adam_segment a, ptrdiff_t count, int divide1, int divide2) {
    __m512i marks = _mm512_setzero_si512();
    ptrdiff_t i = 0;
    for (; i + 16 <= count; i += 16)
        marks = _mm512_or_si512(marks, adam512(&a, i, 0xffff, divide1, divide2));
    if (i < count) {
        __mmask16 lanes = (__mmask16)((1u << (count - i)) - 1);
        marks = _mm512_or_si512(marks, adam512(&a, i, lanes, divide1, divide2));
    }
    return (uint32_t)_mm512_reduce_or_epi32(marks);
}

AVX512 uint32_t descent_adam_avx512(const descent_adam_segment *segment, ptrdiff_t count) {
    int divide1 = segment->correction1 != 1, divide2 = segment->correction2 != 1;
    if (divide1 && divide2) return run512(*segment, count, 1, 1);
    if (divide2) return run512(*segment, count, 0, 1);
    if (divide1) return run512(*segment, count, 1, 0);
    return run512(*segment, count, 0, 0);
}

// MARK: AVX2

/// The 8 values at p, or those of `lanes` (0 in the others) unless `whole`.
INLINE AVX2 __m256 load256(const float *p, __m256i lanes, int whole) {
    return whole ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes);
}

/// x's 8 lanes written at p, or those of `lanes` unless `whole`.
INLINE AVX2 void store256(float *p, __m256 x, __m256i lanes, int whole) {
    if (whole) _mm256_storeu_ps(p, x);
    else _mm256_maskstore_ps(p, lanes, x);
}

/// `adam512` on 8 lanes: all of them (`whole`), or those whose `lanes` are all ones.
INLINE AVX2 __m256i adam256(
    const descent_adam_segment *a, ptrdiff_t i, __m256i lanes, int whole, int divide1,
    int divide2) {
    __m256 w = load256(a->w + i, lanes, whole);
    __m256 sum = load256(a->sum + i, lanes, whole);
    __m256 g = _mm256_add_ps(
        _mm256_div_ps(sum, _mm256_set1_ps(a->m)), _mm256_mul_ps(_mm256_set1_ps(a->decay), w));
    __m256 first = _mm256_add_ps(
        _mm256_mul_ps(_mm256_set1_ps(a->beta1), load256(a->first + i, lanes, whole)),
        _mm256_mul_ps(_mm256_set1_ps(1 - a->beta1), g));
    __m256 second = _mm256_add_ps(
        _mm256_mul_ps(_mm256_set1_ps(a->beta2), load256(a->second + i, lanes, whole)),
        _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(1 - a->beta2), g), g));
    __m256 corrected1 = divide1 ? _mm256_div_ps(first, _mm256_set1_ps(a->correction1)) : first;
    __m256 corrected2 = divide2 ? _mm256_div_ps(second, _mm256_set1_ps(a->correction2)) : second;
    __m256 step = _mm256_div_ps(
        _mm256_mul_ps(_mm256_set1_ps(a->alpha), corrected1),
        _mm256_add_ps(_mm256_sqrt_ps(corrected2), _mm256_set1_ps(a->epsilon)));
    __m256 next = _mm256_sub_ps(w, step);
    store256(a->out_first + i, first, lanes, whole);
    store256(a->out_second + i, second, lanes, whole);
    store256(a->out + i, next, lanes, whole);
    __m256i mask = _mm256_set1_epi32(EXPONENT_MASK), unit = _mm256_set1_epi32(EXPONENT_UNIT);
    __m256i marks = _mm256_or_si256(
        _mm256_add_epi32(_mm256_and_si256(_mm256_castps_si256(next), mask), unit),
        _mm256_add_epi32(_mm256_and_si256(_mm256_castps_si256(second), mask), unit));
    return whole ? marks : _mm256_and_si256(marks, lanes);
}

/// `run512` 8 values at a time; the last ones under a mask of their lanes.
INLINE AVX2 uint32_t run256(descent_adam_segment a, ptrdiff_t count, int divide1, int divide2) {
    __m256i marks = _mm256_setzero_si256(), all = _mm256_set1_epi32(-1);
    ptrdiff_t i = 0;
    for (; i + 8 <= count; i += 8)
        marks = _mm256_or_si256(marks, adam256(&a, i, all, 1, divide1, divide2));
    if (i < count) {
        __m256i lanes = _mm256_cmpgt_epi32(
            _mm256_set1_epi32((int)(count - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        marks = _mm256_or_si256(marks, adam256(&a, i, lanes, 0, divide1, divide2));
    }
    __m128i x = _mm_or_si128(_mm256_castsi256_si128(marks), _mm256_extracti128_si256(marks, 1));
    x = _mm_or_si128(x, _mm_shuffle_epi32(x, 0x4e));
    x = _mm_or_si128(x, _mm_shuffle_epi32(x, 0xb1));
    return (uint32_t)_mm_cvtsi128_si32(x);
}

AVX2 uint32_t descent_adam_avx2(const descent_adam_segment *segment, ptrdiff_t count) {
    int divide1 = segment->correction1 != 1, divide2 = segment->correction2 != 1;
    if (divide1 && divide2) return run256(*segment, count, 1, 1);
    if (divide2) return run256(*segment, count, 0, 1);
    if (divide1) return run256(*segment, count, 1, 0);
    return run256(*segment, count, 0, 0);
}

#else

unsigned descent_adam_variants(void) { return 0; }

uint32_t descent_adam_avx512(const descent_adam_segment *segment, ptrdiff_t count) {
    (void)segment, (void)count;
    __builtin_trap();
}

uint32_t descent_adam_avx2(const descent_adam_segment *segment, ptrdiff_t count) {
    (void)segment, (void)count;
    __builtin_trap();
}

#endif

// The exhaustive checks' loop, in C so that it runs optimised even in a debug build.
#include "elementary_check.h"
#include "elementary.h"
#include <math.h>
#include <string.h>

// Inputs go through the array form in blocks; one in SCALAR_SAMPLE is also computed by the
// scalar form and compared: a scalar call costs as much as the reference.
enum { BLOCK = 4096, SCALAR_SAMPLE = 16 };

static float float_from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint32_t bits_of_float(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static double reference(elementary_function function, double x) {
    switch (function) {
    case ELEMENTARY_EXP: return exp(x);
    case ELEMENTARY_LOG: return log(x);
    case ELEMENTARY_LOG1P: return log1p(x);
    case ELEMENTARY_TANH: return tanh(x);
    case ELEMENTARY_LOGISTIC: return 1.0 / (1.0 + exp(-x));
    }
    return NAN;
}

static void evaluate(elementary_function function, const float *in, float *out, uint32_t n) {
    switch (function) {
    case ELEMENTARY_EXP: descent_expf_array(in, out, n); return;
    case ELEMENTARY_LOG: descent_logf_array(in, out, n); return;
    case ELEMENTARY_LOG1P: descent_log1pf_array(in, out, n); return;
    case ELEMENTARY_TANH: descent_tanhf_array(in, out, n); return;
    case ELEMENTARY_LOGISTIC: descent_logisticf_array(in, out, n); return;
    }
}

static float scalar(elementary_function function, float x) {
    switch (function) {
    case ELEMENTARY_EXP: return descent_expf(x);
    case ELEMENTARY_TANH: return descent_tanhf(x);
    case ELEMENTARY_LOGISTIC: return descent_logisticf(x);
    case ELEMENTARY_LOG: return descent_logf(x);
    case ELEMENTARY_LOG1P: return descent_log1pf(x);
    }
    return NAN;
}

/// |result − exact| in Float ulps at `exact` (the ulp of the binade it lies in; 2^−149 among
/// subnormals); 0 when both round to the same infinity. Multiplies by 1/ulp, a power of two, as
/// a division would cost as much as the function checked.
static double ulps(float result, double exact) {
    if (isinf(result) && result == (float)exact) return 0;
    uint64_t u;
    memcpy(&u, &exact, sizeof u);
    int64_t binade = (int64_t)((u >> 52) & 0x7ff) - 1023;
    binade = binade < -126 ? -126 : binade;
    uint64_t inverse_bits = (uint64_t)(23 - binade + 1023) << 52;
    double inverse;
    memcpy(&inverse, &inverse_bits, sizeof inverse);
    return fabs((double)result - exact) * inverse;
}

static void check_block(elementary_function function, const float *in, const float *out, uint32_t n,
                        elementary_check_result *result) {
    uint64_t not_correctly_rounded = 0, array_mismatches = 0;
    double max_ulps = result->max_ulps;
    for (uint32_t i = 0; i < n; i++) {
        double exact = reference(function, in[i]);
        if (bits_of_float(out[i]) != bits_of_float((float)exact) && not_correctly_rounded++ == 0 &&
            result->not_correctly_rounded == 0) {
            result->first_not_correctly_rounded = in[i];
        }
        if (i % SCALAR_SAMPLE == 0) array_mismatches += bits_of_float(out[i]) != bits_of_float(scalar(function, in[i]));
        double error = ulps(out[i], exact);
        if (!(error <= max_ulps)) {
            max_ulps = error;
            result->worst_input = in[i];
        }
    }
    result->max_ulps = max_ulps;
    result->not_correctly_rounded += not_correctly_rounded;
    result->array_mismatches += array_mismatches;
    result->count += n;
}

/// Fills `in` with up to BLOCK Floats from `*next` on, `stride` bit patterns apart, not past
/// `last_bits`; returns how many.
static uint32_t next_block(float *in, uint64_t *next, uint32_t last_bits, uint32_t stride) {
    uint32_t n = 0;
    while (n < BLOCK && *next <= last_bits) {
        in[n++] = float_from_bits((uint32_t)*next);
        *next += stride;
    }
    return n;
}

elementary_check_result elementary_check(elementary_function function, uint32_t first_bits,
                                         uint32_t last_bits, uint32_t stride) {
    elementary_check_result result = {0, 0, 0, 0, 0, 0};
    float in[BLOCK], out[BLOCK];
    uint64_t next = first_bits;
    for (uint32_t n; (n = next_block(in, &next, last_bits, stride)) > 0;) {
        evaluate(function, in, out, n);
        check_block(function, in, out, n, &result);
    }
    return result;
}

/// How many Floats in [first_bits, last_bits] `function` maps to other bits than `expected`, or
/// than their own when `identity`.
static uint64_t count_others(elementary_function function, uint32_t first_bits, uint32_t last_bits,
                             float expected, int identity) {
    uint64_t others = 0;
    float in[BLOCK], out[BLOCK];
    uint64_t next = first_bits;
    for (uint32_t n; (n = next_block(in, &next, last_bits, 1)) > 0;) {
        evaluate(function, in, out, n);
        for (uint32_t i = 0; i < n; i++) {
            others += bits_of_float(out[i]) != bits_of_float(identity ? in[i] : expected);
        }
    }
    return others;
}

uint64_t elementary_count_other_than(elementary_function function, uint32_t first_bits,
                                     uint32_t last_bits, float expected) {
    return count_others(function, first_bits, last_bits, expected, 0);
}

uint64_t elementary_count_moved(elementary_function function, uint32_t first_bits,
                                uint32_t last_bits) {
    return count_others(function, first_bits, last_bits, 0, 1);
}

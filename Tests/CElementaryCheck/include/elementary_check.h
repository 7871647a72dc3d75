#ifndef CELEMENTARY_CHECK_H
#define CELEMENTARY_CHECK_H
#include <stdint.h>

/// The functions of CElementary a check can cover.
typedef enum {
    ELEMENTARY_EXP,
    ELEMENTARY_LOG,
    ELEMENTARY_LOG1P,
    ELEMENTARY_TANH,
    ELEMENTARY_LOGISTIC,
} elementary_function;

/// What a check found over a range of Float inputs.
typedef struct {
    /// Inputs checked.
    uint64_t count;
    /// The largest |result − reference| in Float ulps of the reference.
    double max_ulps;
    /// The input where it was found.
    float worst_input;
    /// Results other than the reference rounded to a Float (the correctly rounded result but
    /// for the reference's own error, below 1 Double ulp), and the first input that gave one.
    uint64_t not_correctly_rounded;
    float first_not_correctly_rounded;
    /// Results of the array form that differ in any bit from the scalar form's, on one input in 16.
    uint64_t array_mismatches;
} elementary_check_result;

/// Checks `function` on the Floats whose bit patterns are first_bits, first_bits + stride, … up to
/// last_bits (a range of one sign) against glibc's Double function of the Float widened to Double.
elementary_check_result elementary_check(elementary_function function, uint32_t first_bits,
                                         uint32_t last_bits, uint32_t stride);

/// How many Floats with bit patterns in [first_bits, last_bits] the array form of `function` does
/// not map to exactly `expected`: for ranges where the exact result provably rounds to a constant.
uint64_t elementary_count_other_than(elementary_function function, uint32_t first_bits,
                                     uint32_t last_bits, float expected);

/// How many Floats with bit patterns in [first_bits, last_bits] the array form of `function` does
/// not map to themselves: for ranges where the exact result provably rounds to its argument.
uint64_t elementary_count_moved(elementary_function function, uint32_t first_bits,
                                uint32_t last_bits);

#endif

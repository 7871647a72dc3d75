// The Double functions Descent calls once per step or once per weight (Adam's bias correction,
// the learning-rate schedules, Box–Muller at initialisation): scalar, with plain branches.
#include "elementary.h"
#include "kernels.h"

double descent_exp(double x) {
    if (x != x) return x;
    // e^710 overflows and e^−746 is below half the least subnormal.
    if (x > 710.0) return __builtin_inf();
    if (x < -746.0) return 0.0;
    double k;
    double r = reduce_by_ln2(x, &k);
    double p = 1.0 + expm1_polynomial(r);
    // 2^k must stay a normal Double: scale in two steps at the ends, so that the one rounding
    // happens in the last product.
    if (k > 1000.0) return p * power_of_two(k - 1000.0) * 0x1p1000;
    if (k < -1000.0) return p * power_of_two(k + 1000.0) * 0x1p-1000;
    return p * power_of_two(k);
}

double descent_log(double x) {
    if (x != x || x < 0.0) return __builtin_nan("");
    if (x == 0.0) return -__builtin_inf();
    if (x == __builtin_inf()) return x;
    if (x < 0x1p-1022) return log_of_normal(x * 0x1p54) - 54.0 * LN2_HI - 54.0 * LN2_LO;
    return log_of_normal(x);
}

/// cos x for |x| ≤ π/4 by its Taylor series to x^16 (truncation below 3e-18).
static double cos_polynomial(double x) {
    double x2 = x * x;
    double p = 1.0 / 20922789888000.0;
    p = -1.0 / 87178291200.0 + x2 * p;
    p = 1.0 / 479001600.0 + x2 * p;
    p = -1.0 / 3628800.0 + x2 * p;
    p = 1.0 / 40320.0 + x2 * p;
    p = -1.0 / 720.0 + x2 * p;
    p = 1.0 / 24.0 + x2 * p;
    p = -0.5 + x2 * p;
    return 1.0 + x2 * p;
}

/// sin x for |x| ≤ π/4 by its Taylor series to x^17 (truncation below 1e-19).
static double sin_polynomial(double x) {
    double x2 = x * x;
    double p = 1.0 / 355687428096000.0;
    p = -1.0 / 1307674368000.0 + x2 * p;
    p = 1.0 / 6227020800.0 + x2 * p;
    p = -1.0 / 39916800.0 + x2 * p;
    p = 1.0 / 362880.0 + x2 * p;
    p = -1.0 / 5040.0 + x2 * p;
    p = 1.0 / 120.0 + x2 * p;
    p = -1.0 / 6.0 + x2 * p;
    return x + x * (x2 * p);
}

double descent_cospi(double x) {
    const double pi = 0x1.921fb54442d18p1;
    double q = __builtin_fabs(x);
    if (!(q < __builtin_inf())) return __builtin_nan("");
    // Every Double from 2^53 on is an even integer.
    if (q >= 0x1p53) return 1.0;
    // q − 2·round(q/2) lies in [−1, 1] and is exact; cos(πq) is even and has period 2.
    q = __builtin_fabs(q - 2.0 * ((q * 0.5 + 0x1p52) - 0x1p52));
    // cos(πq) = −cos(π(1 − q)) and cos(πq) = sin(π(½ − q)), all differences exact.
    double sign = 1.0;
    if (q > 0.5) {
        q = 1.0 - q;
        sign = -1.0;
    }
    return sign * (q <= 0.25 ? cos_polynomial(pi * q) : sin_polynomial(pi * (0.5 - q)));
}

float descent_powf(float base, float exponent) {
    if (exponent == 0.0f) return 1.0f;
    return (float)descent_exp((double)exponent * descent_log((double)base));
}

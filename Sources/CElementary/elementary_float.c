// The Float functions: each computes in Double, where the Float argument is exact, to a relative
// error below 1e-14, then rounds once. Written as straight-line code with selects rather than
// branches so that the array forms vectorise; the scalar forms run the same code, so an array
// and a scalar call give the same bits.
#include "elementary.h"
#include "kernels.h"

static const double INFINITY_D = __builtin_inf();
static const double NAN_D = __builtin_nan("");

/// e^x for the Double of a Float, or of anything in [−150, 90] ∪ {NaN}: clamped to that range,
/// where 2^k stays a normal Double, e^x is exactly 0 or inf once rounded to a Float.
static inline double exp_of_float(double x) {
    // Written so that NaN fails both tests and stays NaN.
    x = x < -150.0 ? -150.0 : x;
    x = x > 90.0 ? 90.0 : x;
    double k;
    double r = reduce_by_ln2(x, &k);
    return (1.0 + expm1_polynomial(r)) * power_of_two(k);
}

static inline float expf_kernel(float x) { return (float)exp_of_float(x); }

static inline float logf_kernel(float x) {
    double xd = x;
    int valid = xd > 0.0 && xd < INFINITY_D;
    double result = log_of_normal(valid ? xd : 1.0);
    result = valid ? result : (xd == 0.0 ? -INFINITY_D : (xd == INFINITY_D ? INFINITY_D : NAN_D));
    return (float)result;
}

/// log(1 + x) as log u + (x − (u − 1))/u with u = 1 + x rounded: the second term restores what
/// the rounding of 1 + x lost (u − 1 and the difference are exact).
static inline float log1pf_kernel(float x) {
    double xd = x;
    int valid = xd > -1.0 && xd < INFINITY_D;
    double xs = valid ? xd : 0.0;
    double u = 1.0 + xs;
    double lost = xs - (u - 1.0);
    double e;
    double m = split_exponent(u, &e);
    double result = e * LN2_HI + (e * LN2_LO + (log_polynomial(m) + lost / u));
    result = valid ? result : (xd == -1.0 ? -INFINITY_D : (xd == INFINITY_D ? INFINITY_D : NAN_D));
    // ±0 keeps its sign.
    return xd == 0.0 ? x : (float)result;
}

/// tanh |x| = M/(M + 2) with M = e^(2|x|) − 1, computed as 2^k·(e^r − 1) + (2^k − 1) so that it
/// keeps its relative accuracy for small |x|. From |x| = 10 on, tanh rounds to 1 as a Float.
static inline float tanhf_kernel(float x) {
    double a = __builtin_fabs((double)x);
    a = a > 10.0 ? 10.0 : a;
    double k;
    double r = reduce_by_ln2(2.0 * a, &k);
    double scale = power_of_two(k);
    double m = scale * expm1_polynomial(r) + (scale - 1.0);
    return (float)__builtin_copysign(m / (m + 2.0), (double)x);
}

/// 1/(1 + e^−x) for x ≥ 0 and e^x/(1 + e^x) below, with e^−|x| in Double: no overflow, one
/// rounding.
static inline float logisticf_kernel(float x) {
    double xd = x;
    double a = __builtin_fabs(xd);
    double e = exp_of_float(-a);
    double numerator = xd >= 0.0 ? 1.0 : e;
    return (float)(numerator / (1.0 + e));
}

float descent_expf(float x) { return expf_kernel(x); }
float descent_logf(float x) { return logf_kernel(x); }
float descent_log1pf(float x) { return log1pf_kernel(x); }
float descent_tanhf(float x) { return tanhf_kernel(x); }
float descent_logisticf(float x) { return logisticf_kernel(x); }

// Each element is read before it is written and no other element is touched, so `out == in` is
// as safe as disjoint buffers; the pragma lets the vectoriser skip its overlap check, which
// would otherwise send the in-place calls Descent makes down the scalar path.
void descent_expf_array(const float *in, float *out, size_t n) {
#pragma clang loop vectorize(assume_safety)
    for (size_t i = 0; i < n; i++) out[i] = expf_kernel(in[i]);
}

void descent_logf_array(const float *in, float *out, size_t n) {
#pragma clang loop vectorize(assume_safety)
    for (size_t i = 0; i < n; i++) out[i] = logf_kernel(in[i]);
}

void descent_log1pf_array(const float *in, float *out, size_t n) {
#pragma clang loop vectorize(assume_safety)
    for (size_t i = 0; i < n; i++) out[i] = log1pf_kernel(in[i]);
}

void descent_tanhf_array(const float *in, float *out, size_t n) {
#pragma clang loop vectorize(assume_safety)
    for (size_t i = 0; i < n; i++) out[i] = tanhf_kernel(in[i]);
}

void descent_logisticf_array(const float *in, float *out, size_t n) {
#pragma clang loop vectorize(assume_safety)
    for (size_t i = 0; i < n; i++) out[i] = logisticf_kernel(in[i]);
}

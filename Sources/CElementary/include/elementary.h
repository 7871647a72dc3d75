#ifndef CELEMENTARY_H
#define CELEMENTARY_H
#include <stddef.h>

// Descent's elementary functions: the same bits on every x86-64 (and every other IEEE host) that
// runs the same binary. glibc picks FMA or non-FMA code for expf, logf, tanhf, powf… by CPU, so
// its results can differ by an ulp between hosts; these use only +, −, ×, ÷ and bit operations,
// compiled without contraction into FMA and without CPU dispatch.
//
// The Float functions compute in Double (a Float is exact there) to a relative error below 1e-14
// and round once at the end, so each result is within 0.5 + 1e-6 Float ulps of the exact value:
// the correctly rounded Float, except within about 1e-6 ulp of a tie. Tests check every Float
// input Descent can pass against glibc's Double functions.

/// e^x. Within 0.5 + 1e-6 ulps; inf above 88.7228, subnormals then 0 below −87.34, NaN → NaN.
float descent_expf(float x);

/// log x. Within 0.5 + 1e-6 ulps; log 0 = −inf, log of a negative or NaN = NaN, log inf = inf.
float descent_logf(float x);

/// log(1 + x). Within 0.5 + 1e-6 ulps; −1 → −inf, below −1 → NaN, ±0 → ±0.
float descent_log1pf(float x);

/// tanh x. Within 0.5 + 1e-6 ulps; odd (tanh −0 = −0), exactly ±1 from |x| ≥ 9.011, NaN → NaN.
float descent_tanhf(float x);

/// The logistic function 1 / (1 + e^−x). Within 0.5 + 1e-6 ulps; 0 and 1 at the ends, NaN → NaN.
float descent_logisticf(float x);

/// `out[i] = descent_expf(in[i])` for i < n, the same bits, vectorised; `out` may be `in`.
void descent_expf_array(const float *in, float *out, size_t n);

/// `out[i] = descent_logf(in[i])` for i < n, the same bits, vectorised; `out` may be `in`.
void descent_logf_array(const float *in, float *out, size_t n);

/// `out[i] = descent_log1pf(in[i])` for i < n, the same bits, vectorised; `out` may be `in`.
void descent_log1pf_array(const float *in, float *out, size_t n);

/// `out[i] = descent_tanhf(in[i])` for i < n, the same bits, vectorised; `out` may be `in`.
void descent_tanhf_array(const float *in, float *out, size_t n);

/// `out[i] = descent_logisticf(in[i])` for i < n, the same bits, vectorised; `out` may be `in`.
void descent_logisticf_array(const float *in, float *out, size_t n);

/// e^x in Double, within 1 ulp; inf above 709.78, subnormals then 0 below −708.4.
double descent_exp(double x);

/// log x in Double, within 2 ulps; log 0 = −inf, log of a negative or NaN = NaN.
double descent_log(double x);

/// cos(π·x) in Double, within 2 ulps of the exact value (no rounding of π·x on the way); x finite.
double descent_cospi(double x);

/// base^exponent as e^(exponent · log base), computed in Double and rounded once: within
/// 0.5 ulps + 1e-6 for |exponent · log base| < 1e6. For base ≥ 0 (Adam's β, a decay factor);
/// a negative base gives NaN; exponent 0 gives 1.
float descent_powf(float base, float exponent);

#endif

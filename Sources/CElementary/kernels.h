// The kernels the Float and Double functions share: argument reduction and the polynomials.
// Everything here is +, −, ×, ÷ and bit operations on Doubles, so the target is compiled with
// -ffp-contract=off and each result is the same on every host.
#ifndef CELEMENTARY_KERNELS_H
#define CELEMENTARY_KERNELS_H
#include <stdint.h>
#include <string.h>

static const double LOG2E = 1.4426950408889634;
// ln 2 = LN2_HI + LN2_LO, LN2_HI with 32 significant bits, so k·LN2_HI is exact for |k| < 2^21.
static const double LN2_HI = 0x1.62e42feep-1;
static const double LN2_LO = 0x1.a39ef35793c76p-33;
// Adding then subtracting 1.5·2^52 rounds a Double of magnitude below 2^51 to an integer, the
// integer left in the low bits of the sum.
static const double ROUNDING_SHIFT = 0x1.8p52;
static const double SQRT_HALF = 0x1.6a09e667f3bcdp-1;
static const uint64_t MANTISSA_MASK = 0x000fffffffffffffULL;

static inline uint64_t bits_of(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double double_from_bits(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/// e^r − 1 for |r| ≤ 0.35 by its Taylor series to r^13 (truncation below 5e-18 relative), as
/// r + r²·q(r). q is evaluated by Estrin's scheme, in pairs, then pairs of pairs: Horner's chain
/// of 12 dependent multiply-adds made a scalar call wait four times as long as an array element.
static inline double expm1_polynomial(double r) {
    double r2 = r * r;
    double r4 = r2 * r2;
    double r8 = r4 * r4;
    double a0 = 1.0 / 2.0 + r * (1.0 / 6.0);
    double a1 = 1.0 / 24.0 + r * (1.0 / 120.0);
    double a2 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    double a3 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    double a4 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    double a5 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    double b0 = a0 + r2 * a1;
    double b1 = a2 + r2 * a3;
    double b2 = a4 + r2 * a5;
    double q = (b0 + r4 * b1) + r8 * b2;
    return r + r2 * q;
}

/// x = k·ln 2 + r with k an integer and |r| ≤ ln 2 / 2 (plus rounding): returns r and sets k.
/// For |x| < 2^20; k·LN2_HI is then exact, and so is x − k·LN2_HI (Sterbenz).
static inline double reduce_by_ln2(double x, double *k) {
    *k = (x * LOG2E + ROUNDING_SHIFT) - ROUNDING_SHIFT;
    return (x - *k * LN2_HI) - *k * LN2_LO;
}

/// 2^k for an integer k in [−1022, 1023], by writing the exponent field.
static inline double power_of_two(double k) {
    uint64_t biased = bits_of(k + ROUNDING_SHIFT) - bits_of(ROUNDING_SHIFT) + 1023;
    return double_from_bits(biased << 52);
}

/// log m for m in [√½, √2): 2·atanh(s) with s = (m − 1)/(m + 1), |s| ≤ 0.172, by its series to
/// s^23 (truncation below 1e-19 relative), 2s + 2s·s²·q(s²) with q by Estrin's scheme.
static inline double log_polynomial(double m) {
    double s = (m - 1.0) / (m + 1.0);
    double z = s * s;
    double z2 = z * z;
    double z4 = z2 * z2;
    double z8 = z4 * z4;
    double a0 = 1.0 / 3.0 + z * (1.0 / 5.0);
    double a1 = 1.0 / 7.0 + z * (1.0 / 9.0);
    double a2 = 1.0 / 11.0 + z * (1.0 / 13.0);
    double a3 = 1.0 / 15.0 + z * (1.0 / 17.0);
    double a4 = 1.0 / 19.0 + z * (1.0 / 21.0);
    double b0 = a0 + z2 * a1;
    double b1 = a2 + z2 * a3;
    double q = (b0 + z4 * b1) + z8 * (1.0 / 23.0 * z2 + a4);
    double twice = 2.0 * s;
    return twice + twice * (z * q);
}

/// Splits a positive, finite, normal x into x = m·2^e with m in [√½, √2): returns m, sets e.
/// Shifting by 1 − √½ before reading the exponent moves the split from 1 to √½ (as fdlibm does).
static inline double split_exponent(double x, double *e) {
    uint64_t shifted = bits_of(x) + (bits_of(1.0) - bits_of(SQRT_HALF));
    // The biased exponent, at most 2047, read as the Double 2^52 + exponent: SSE2 has no
    // vector conversion from 64-bit integers.
    *e = double_from_bits((shifted >> 52) | bits_of(0x1p52)) - (0x1p52 + 1023.0);
    return double_from_bits((shifted & MANTISSA_MASK) + bits_of(SQRT_HALF));
}

/// log x for a positive, finite, normal x, within about 1 Double ulp.
static inline double log_of_normal(double x) {
    double e;
    double m = split_exponent(x, &e);
    return e * LN2_HI + (e * LN2_LO + log_polynomial(m));
}

#endif

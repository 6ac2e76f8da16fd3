"""Independent reference values for test/privacy-rdp.test.ts, by a different method than the accountant's.

The accountant (shared/privacy/rdp.ts) evaluates A_alpha = E_{z~N(0,s^2)}[((1-q) + q*exp((2z-1)/(2s^2)))^alpha]
through binomial series. This script integrates that definition numerically in 60-digit arithmetic (mpmath's
tanh-sinh quadrature, split at the integrand's peak), with no series at all, and prints log(A_alpha) and
log(erfc(x)). Run: python3 test/privacy-rdp-reference.py   (needs mpmath; Debian: python3-mpmath)
"""
import mpmath as mp

mp.mp.dps = 60


def log_a(q, sigma, alpha):
    q, sigma, alpha = mp.mpf(q), mp.mpf(sigma), mp.mpf(alpha)

    def integrand(z):
        density = mp.exp(-z * z / (2 * sigma**2)) / (sigma * mp.sqrt(2 * mp.pi))
        return density * ((1 - q) + q * mp.exp((2 * z - 1) / (2 * sigma**2))) ** alpha

    # The integrand is a bump near 0 (the unsampled part) and one near alpha (the sampled part); splitting the
    # range at both, and at z0 where the two parts of the ratio are equal, lets the quadrature resolve each.
    z0 = sigma**2 * mp.log(1 / q - 1) + mp.mpf(1) / 2
    points = sorted({mp.mpf(0), mp.mpf(alpha), z0, mp.mpf(alpha) / 2})
    bounds = [-mp.inf] + points + [mp.inf]
    return mp.log(mp.quad(integrand, bounds, maxdegree=10))


CASES = [
    # the parameter sets of TF-Privacy's / dp_accounting's test_compute_log_a_equals_mp
    (1e-7, 0.1, 1.01), (1e-6, 0.1, 256), (1e-5, 0.1, 256.1), (1e-6, 1, 27), (1e-4, 1.0, 1.5),
    (1e-3, 1.0, 2), (0.01, 10, 20), (0.1, 100, 20.5), (0.99, 0.1, 256), (0.999, 100, 256.1),
    # the regimes flambda runs in: q = 0.1 of 1,000 clients, sigma around 1, the smallest and largest orders
    (0.1, 1.0, 1.1), (0.1, 1.0, 3.2), (0.1, 1.0, 10.9), (0.1, 1.0, 63), (0.1, 1.0, 1024),
    (0.01, 1.1, 10.7), (0.5, 0.7, 4.5), (0.3, 2.0, 1.3),
    # where TF-Privacy (signed series) and dp_accounting (absolute values, an upper bound) disagree
    (0.01, 2.5, 1.5),
]

if __name__ == '__main__':
    print('log A_alpha:  [q, sigma, alpha, logA]')
    for q, sigma, alpha in CASES:
        print(f'  [{q!r}, {sigma!r}, {alpha!r}, {mp.nstr(log_a(q, sigma, alpha), 17)}],')
    print('log erfc(x):  [x, log erfc x]')
    for x in [-5, -0.3, 0, 0.1, 1, 1.5, 1.99, 2, 2.01, 5, 26, 27, 100, 1e3, 1e5]:
        print(f'  [{x!r}, {mp.nstr(mp.log(mp.erfc(mp.mpf(x))), 17)}],')

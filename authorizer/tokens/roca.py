"""The ROCA fingerprint (CVE-2017-15361): RSA moduli from Infineon's flawed key generator.

Nemec, Sys, Svenda, Klinec and Matyas, "The Return of Coppersmith's Attack" (ACM CCS 2017): that
generator made every prime as k * M + (65537^a mod M), M a product of small primes, so a modulus
N it made is, modulo M' = 2 * 3 * 5 * ... * 167, a power of 65537. Such keys can be factored. Its
authors' detector tests exactly that: whether a discrete logarithm of N to base 65537 exists
modulo M'. A modulus from any other generator passes with a probability of about 2^-155.

The test runs once per key, when a key set is built, never per token: `has_roca_fingerprint`.
Its tables are made on first use, so containers without RSA keys never pay for them.
"""

from __future__ import annotations

import functools
import math

# The primes of M' and the generator of the construction, as the authors' detector uses them.
_PRIMES = tuple(p for p in range(2, 168) if all(p % d for d in range(2, math.isqrt(p) + 1)))
_GENERATOR = 65537


def has_roca_fingerprint(modulus: int) -> bool:
    """True if `modulus` is, modulo M', a power of 65537: a key of the ROCA construction."""
    residue = modulus % _primorial()
    # A power of 65537 modulo M' is one modulo each prime of M' too: a cheap necessary test that
    # almost every modulus of another origin fails within the first few primes.
    for prime, powers in _powers_modulo_each_prime():
        if residue % prime not in powers:
            return False
    return _is_power_of_generator(residue)


@functools.cache
def _primorial() -> int:
    return math.prod(_PRIMES)


@functools.cache
def _powers_modulo_each_prime() -> tuple[tuple[int, frozenset[int]], ...]:
    return tuple((prime, frozenset(_powers(_GENERATOR % prime, prime))) for prime in _PRIMES)


def _powers(base: int, modulus: int) -> list[int]:
    """base^0, base^1, ... up to (not including) the first repetition of 1."""
    powers, value = [], 1 % modulus
    while True:
        powers.append(value)
        value = value * base % modulus
        if value == powers[0]:
            return powers


def _is_power_of_generator(residue: int) -> bool:
    """Exact membership of `residue` in the group 65537 generates modulo M' (Pohlig-Hellman).

    With `order` the order of 65537: the residue must have an order dividing it, and for each
    prime power q^e of `order`, residue^(order / q^e) must be a power of 65537^(order / q^e).
    """
    primorial, order, parts = _exact_tables()
    if pow(residue, order, primorial) != 1:
        return False
    return all(pow(residue, cofactor, primorial) in powers for cofactor, powers in parts)


@functools.cache
def _exact_tables() -> tuple[int, int, tuple[tuple[int, frozenset[int]], ...]]:
    primorial = _primorial()
    order = math.lcm(*(len(_powers(_GENERATOR % prime, prime)) for prime in _PRIMES))
    parts = []
    for prime in _PRIMES:  # the prime factors of `order` divide some p - 1, so they are all here
        power = prime ** _multiplicity(order, prime)
        if power > 1:
            cofactor = order // power
            parts.append((cofactor, frozenset(_powers(pow(_GENERATOR, cofactor, primorial), primorial))))
    return primorial, order, tuple(parts)


def _multiplicity(number: int, prime: int) -> int:
    count = 0
    while number % prime == 0:
        number //= prime
        count += 1
    return count

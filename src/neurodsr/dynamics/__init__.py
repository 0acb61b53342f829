"""Dynamical systems: simulated benchmarks, Lyapunov exponents (data and models), tau choice."""

"""Every loss of the three papers, each a pure function carrying its equation number.

One module per paper: :mod:`tfstem.losses.r_em` (CGRDN, Lobato et al. 2023),
:mod:`tfstem.losses.noise2atom` (Wang et al. 2020) and :mod:`tfstem.losses.n2v` (masked MSE).
"""

"""Stable-ground correction of displacement fields: offsets, ramps, along-track jitter, detector steps.

* :mod:`.models`: the model terms and their coordinates;
* :mod:`.stable`: the stable mask (vectors, rasters, automatic);
* :mod:`.track`: track azimuth and detector boundaries found in the field;
* :mod:`.fit`: robust IRLS fit and the correction's uncertainty;
* :mod:`.product`: :func:`correct_field` and :func:`correct_product`.
"""

from microflow.correction.product import CorrectionOptions, CorrectionResult, correct_field, correct_product

__all__ = ["CorrectionOptions", "CorrectionResult", "correct_field", "correct_product"]

"""Displacement products on disk: GeoTIFF (COSI-Corr layout) and, optionally, netCDF."""

from microflow.products.geotiff import ProductWriter, check_output_path, read_product, write_product

__all__ = ["ProductWriter", "check_output_path", "read_product", "write_product"]

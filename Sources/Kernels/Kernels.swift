// Kernels: SIMD loops over flat Float buffers. Nothing here knows the model.

// The library's users (the CLI, the tests) see the engine and the kernel
// vocabulary through `import Makemore`.
@_exported import Engine
@_exported import KernelSupport

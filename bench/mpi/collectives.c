// Latency of the collectives makemore's MPI backend runs each step, as
// MPIExchange calls them: in-place MPI_Allgatherv of bytes with equal blocks
// per rank, and MPI_Allreduce MAX of one int.
//
//   mpicc -O2 -o /tmp/collectives bench/mpi/collectives.c
//   mpirun -np 2 /tmp/collectives [total bytes ...]
//
// Prints, per size, the mean microseconds per call over enough calls to take
// about half a second (after a warm-up), as measured on rank 0.
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double time_allgather(int bytes, int ranks, int iters, char *buf, int *counts, int *displs) {
    int block = bytes / ranks;
    for (int r = 0; r < ranks; r++) { counts[r] = block; displs[r] = r * block; }
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (int i = 0; i < iters; i++)
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_BYTE, buf, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
    return (MPI_Wtime() - t) / iters * 1e6;
}

static double time_allreduce(int iters) {
    int v = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (int i = 0; i < iters; i++)
        MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return (MPI_Wtime() - t) / iters * 1e6;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    // Defaults: municipis (H=64, P=4496 floats) with S=2 shards: moments and BN
    // partials 1024 B, losses 16 B, gradients 35968 B; then larger gradients.
    int defaults[] = {16, 1024, 35968, 262144, 1048576, 8388608};
    int n = argc > 1 ? argc - 1 : (int)(sizeof defaults / sizeof *defaults);
    int max = 0;
    for (int i = 0; i < n; i++) { int b = argc > 1 ? atoi(argv[i + 1]) : defaults[i]; if (b > max) max = b; }
    char *buf = malloc(max + 64);
    memset(buf, 1, max + 64);
    int *counts = malloc(sizeof(int) * ranks), *displs = malloc(sizeof(int) * ranks);
    if (rank == 0) printf("%d ranks\n%12s %12s\n", ranks, "bytes", "us/call");
    for (int i = 0; i < n; i++) {
        int bytes = argc > 1 ? atoi(argv[i + 1]) : defaults[i];
        bytes -= bytes % ranks;
        double probe = time_allgather(bytes, ranks, 20, buf, counts, displs);
        MPI_Bcast(&probe, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        int iters = (int)(0.5e6 / (probe > 0.1 ? probe : 0.1));
        if (iters < 10) iters = 10;
        double us = time_allgather(bytes, ranks, iters, buf, counts, displs);
        if (rank == 0) printf("%12d %12.2f   all-gather\n", bytes, us);
    }
    double us = time_allreduce(200000);
    if (rank == 0) printf("%12d %12.2f   all-reduce MAX of one int\n", 4, us);
    MPI_Finalize();
    return 0;
}

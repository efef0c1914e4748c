// Open MPI for Swift. Only built when MAKEMORE_MPI=1 (see Package.swift).
//
// In Open MPI the predefined handles (MPI_COMM_WORLD, MPI_BYTE, MPI_MAX, …)
// are macros that cast the address of a global, and MPI_IN_PLACE is a cast
// integer: Swift imports none of them, so they are exposed here as functions.
#ifndef MAKEMORE_CMPI_SHIM_H
#define MAKEMORE_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm makemore_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype makemore_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype makemore_mpi_int(void) { return MPI_INT; }
static inline MPI_Op makemore_mpi_max(void) { return MPI_MAX; }
static inline void *makemore_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler makemore_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int makemore_mpi_success(void) { return MPI_SUCCESS; }
static inline int makemore_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int makemore_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int makemore_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }

#endif

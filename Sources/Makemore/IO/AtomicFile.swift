// Crash-safe file replacement and whole-file reading with POSIX calls.
//
// Foundation's `Data.write(options: .atomic)` renames but never fsyncs, so a
// power loss right after a checkpoint could leave an empty or partial file.
// Here: write a temporary file in the target's directory, fsync it, rename it
// over the target, fsync the directory.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `strerror` text for an errno value.
func errorText(_ code: Int32) -> String {
    if let p = strerror(code) { return String(cString: p) }
    return "error \(code)"
}

/// What went wrong in a Foundation file operation, in one line: the system's
/// words for a POSIX error ("No such file or directory"), not the NSError dump.
public func fileErrorText(_ error: Error) -> String {
    if let e = error as? MakemoreError { return oneLine(e.message) }
    let ns = error as NSError
    let underlying = (ns.userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError }
    for e in [underlying, ns].compactMap({ $0 }) where e.domain == NSPOSIXErrorDomain {
        return errorText(Int32(e.code))
    }
    // Other Swift errors describe themselves better than their bridged NSError does.
    return oneLine(ns.domain == NSCocoaErrorDomain ? ns.localizedDescription : "\(error)")
}

public enum AtomicFile {
    /// Writes `bytes` to a temporary file in the same directory (named
    /// ".<base>.tmp-<pid>-<random>"), fsyncs it, renames it over `path`, and
    /// fsyncs the directory. An existing file's permission bits are kept.
    /// First it removes the temporary files of `path` that writers killed
    /// mid-write left (`removeStaleTemporaries`).
    ///
    /// On any failure before the rename (directory missing or read-only, disk
    /// full — ENOSPC from write or fsync — …) the temporary file is removed,
    /// the old file at `path` is untouched, and the error says what happened,
    /// e.g. "cannot write runs/m.safetensors: No space left on device
    /// (previous file kept)".
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(bytes, to: path, using: .system)
    }

    /// The system calls that can fail for reasons outside the program; tests
    /// substitute failing versions (e.g. a `write` that reports ENOSPC).
    struct Syscalls {
        var write: (Int32, UnsafeRawPointer, Int) -> Int
        var fsync: (Int32) -> Int32
        var rename: (String, String) -> Int32

        static let system = Syscalls(
            write: { fd, p, n in
                #if canImport(Darwin)
                return Darwin.write(fd, p, n)
                #else
                return Glibc.write(fd, p, n)
                #endif
            },
            fsync: { fd in
                #if canImport(Darwin)
                return Darwin.fsync(fd)
                #else
                return Glibc.fsync(fd)
                #endif
            },
            rename: { from, to in
                #if canImport(Darwin)
                return Darwin.rename(from, to)
                #else
                return Glibc.rename(from, to)
                #endif
            }
        )
    }

    static func write(_ bytes: [UInt8], to path: String, using sys: Syscalls) throws {
        guard let (directory, base) = split(path) else {
            throw MakemoreError("cannot write \(path): not a file path")
        }
        var existing = stat()
        let hadFile = stat(path, &existing) == 0
        let kept = hadFile ? "previous file kept" : "nothing written"
        func failure(_ code: Int32, _ what: String = "") -> MakemoreError {
            MakemoreError("cannot write \(path): \(what)\(errorText(code)) (\(kept))")
        }

        removeStaleTemporaries(of: path)
        let tempPath = String(path.dropLast(base.utf8.count)) + temporaryName(base)
        var fd: Int32
        repeat {
            fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw failure(errno) }

        var isOpen = true
        func cleanUp() {
            if isOpen { _ = close(fd); isOpen = false }
            _ = unlink(tempPath)
        }

        if hadFile && (existing.st_mode & S_IFMT) == S_IFREG {
            _ = fchmod(fd, existing.st_mode & 0o7777)
        }

        var written = 0
        let total = bytes.count
        let writeError: Int32? = bytes.withUnsafeBytes { raw -> Int32? in
            guard let base = raw.baseAddress else { return nil } // empty: nothing to write
            while written < total {
                let chunk = min(total - written, 1 << 30)
                let n = sys.write(fd, base + written, chunk)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { return ENOSPC } // no progress: treat as a full device
                written += n
            }
            return nil
        }
        if let code = writeError {
            cleanUp()
            throw failure(code)
        }
        var rc: Int32
        repeat { rc = sys.fsync(fd) } while rc != 0 && errno == EINTR
        if rc != 0 {
            let code = errno
            cleanUp()
            throw failure(code, "fsync: ")
        }
        rc = close(fd)
        isOpen = false
        if rc != 0 && errno != EINTR {
            let code = errno
            cleanUp()
            throw failure(code, "close: ")
        }
        if sys.rename(tempPath, path) != 0 {
            let code = errno
            cleanUp()
            throw failure(code)
        }

        // Make the rename itself durable. The new file is already in place,
        // so a failure here says so instead of claiming the old one was kept.
        let dirPath = directory.isEmpty ? "." : directory
        var dfd: Int32
        repeat { dfd = open(dirPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC) } while dfd < 0 && errno == EINTR
        guard dfd >= 0 else {
            let code = errno
            if code == EACCES { return } // cannot open for sync; nothing more to do
            throw MakemoreError("wrote \(path) but cannot open its directory to sync it: \(errorText(code))")
        }
        defer { _ = close(dfd) }
        repeat { rc = sys.fsync(dfd) } while rc != 0 && errno == EINTR
        if rc != 0 {
            let code = errno
            // Some file systems do not support syncing directories.
            if code == EINVAL || code == ENOTSUP || code == EOPNOTSUPP || code == EBADF { return }
            throw MakemoreError("wrote \(path) but cannot sync its directory: \(errorText(code)) (the new file may not survive a crash)")
        }
    }

    /// Removes ".<name>.tmp-<pid>-<tag>" files beside `path` whose writing
    /// process no longer exists (a writer killed mid-save, e.g. by a second
    /// Ctrl-C). Files of live processes are left alone.
    private static func removeStaleTemporaries(of path: String) {
        guard let (directory, base) = AtomicFile.split(path) else { return }
        let sample = AtomicFile.temporaryName(base)
        guard let cut = sample.range(of: ".tmp-\(getpid())-", options: .backwards) else { return }
        let prefix = String(sample[..<cut.lowerBound]) + ".tmp-"
        let dir = directory.isEmpty ? "." : directory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count).split(separator: "-")
            guard rest.count == 2, let pid = Int32(rest[0]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink((dir as NSString).appendingPathComponent(name))
            }
        }
    }

    /// ("runs", "m.safetensors") for "runs/m.safetensors", ("", "m") for "m",
    /// ("/", "m") for "/m"; nil when there is no file name ("", "runs/", ".").
    static func split(_ path: String) -> (directory: String, base: String)? {
        let utf8 = Array(path.utf8)
        guard let last = utf8.last, last != UInt8(ascii: "/") else { return nil }
        let slash = utf8.lastIndex(of: UInt8(ascii: "/"))
        let baseBytes = slash.map { Array(utf8[($0 + 1)...]) } ?? utf8
        let base = String(decoding: baseBytes, as: UTF8.self)
        guard base != ".", base != ".." else { return nil }
        let directory: String
        if let slash { directory = slash == 0 ? "/" : String(decoding: utf8[..<slash], as: UTF8.self) } else { directory = "" }
        return (directory, base)
    }

    /// ".<base>.tmp-<pid>-<random>", with long bases shortened to stay within
    /// NAME_MAX (255 bytes).
    static func temporaryName(_ base: String) -> String {
        var short = ""
        for ch in base {
            if short.utf8.count + String(ch).utf8.count > 200 { break }
            short.append(ch)
        }
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return ".\(short).tmp-\(getpid())-\(tag)"
    }
}

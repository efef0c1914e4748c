// One writer per checkpoint: two runs saving to one path would both report
// success while one model is lost. A run holds a POSIX record lock on a lock
// file beside the checkpoint (".<name>.lock") for as long as it runs.
// Record locks go away with the process, however it ends, so a crash never
// leaves a stale lock; and F_GETLK names the process that holds one.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

public final class FileLock {
    /// The lock file.
    public let path: String
    private var fd: Int32

    /// Takes the lock of `file` (a checkpoint path), or throws naming the
    /// process that holds it. The lock file is created beside `file`,
    /// whose folder must exist.
    public init(for file: String) throws {
        let p = FilePath(file)
        let name = p.lastComponent?.string ?? file
        path = p.folder.appending(".\(name).lock").string
        fd = -1
        for _ in 0..<8 {
            let f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard f >= 0 else {
                throw MakemoreError("cannot lock \(file) (lock file \(path)): \(errorText(errno))")
            }
            var lock = FileLock.wholeFile(F_WRLCK)
            if fcntl(f, F_SETLK, &lock) != 0 {
                let code = errno
                var probe = FileLock.wholeFile(F_WRLCK)
                let holder = fcntl(f, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK ? probe.l_pid : 0
                close(f)
                guard code == EACCES || code == EAGAIN else {
                    throw MakemoreError("cannot lock \(file) (lock file \(path)): \(errorText(code))")
                }
                if holder == 0 { continue }  // released between the two calls: try again
                throw MakemoreError("\(file) is in use: process \(holder)\(FileLock.command(of: holder)) is writing it; "
                    + "wait for that run to end, or give another checkpoint path")
            }
            // The holder before us may have removed the file after we opened
            // it: a lock on a removed file guards nothing, so take the new one.
            var mine = stat(), there = stat()
            if fstat(f, &mine) == 0 && stat(path, &there) == 0 && mine.st_ino == there.st_ino && mine.st_dev == there.st_dev {
                fd = f
                return
            }
            close(f)
        }
        throw MakemoreError("cannot lock \(file): the lock file \(path) keeps changing")
    }

    /// Removes the lock file and releases the lock (removing first, so no
    /// other run locks a file that is about to go).
    public func release() {
        guard fd >= 0 else { return }
        unlink(path)
        close(fd)
        fd = -1
    }

    deinit { release() }

    private static func wholeFile(_ type: Int32) -> flock {
        var l = flock()
        l.l_type = Int16(type)
        l.l_whence = Int16(SEEK_SET)
        l.l_start = 0
        l.l_len = 0
        return l
    }

    /// " (makemore train …)" from /proc, or "" where it cannot be read.
    static func command(of pid: pid_t) -> String {
        guard let bytes = try? FileReader.readAll(path: "/proc/\(pid)/cmdline", limit: 4096), !bytes.isEmpty else { return "" }
        let words = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let first = words.first else { return "" }
        let program = FilePath(first).lastComponent?.string ?? first
        return " (" + ([program] + words.dropFirst().prefix(6)).joined(separator: " ") + (words.count > 7 ? " …" : "") + ")"
    }
}

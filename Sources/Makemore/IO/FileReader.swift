// Reading a user's file without hanging, running out of memory or trapping:
// regular files only, opened without blocking, their size checked before a
// byte is read.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What is at a path, for messages ("it is a FIFO (named pipe), not a regular file").
public enum FileKind: Equatable, Sendable {
    case missing, regular, folder, characterDevice, blockDevice, fifo, socket, symbolicLink, other

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .folder
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        default: self = .other
        }
    }

    /// The kind at `path`, symlinks followed.
    public static func at(_ path: String) -> FileKind {
        var info = stat()
        return stat(path, &info) == 0 ? FileKind(mode: info.st_mode) : .missing
    }

    public var phrase: String {
        switch self {
        case .missing: return "missing"
        case .regular: return "a regular file"
        case .folder: return "a folder"
        case .characterDevice: return "a character device"
        case .blockDevice: return "a block device"
        case .fifo: return "a FIFO (named pipe)"
        case .socket: return "a socket"
        case .symbolicLink: return "a symbolic link"
        case .other: return "not a regular file"
        }
    }
}

/// A file's identity (device and inode), to tell whether two paths are one file.
public struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    /// The file at `path` (symlinks followed), nil when there is none.
    public init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

public enum FileReader {
    /// How much of each kind of file makemore reads at most: far above any
    /// real one, low enough that a wrong path fails at once.
    public enum Limit {
        public static let wordList = 1 << 30
        public static let config = 1 << 20
        public static let results = 64 << 20
        /// A checkpoint or batch file: half of what `MemoryCheck` allows, since
        /// its bytes and the floats decoded from them live at once.
        public static var tensors: Int {
            Int(min(MemoryCheck.allowance / 2, Double(Int.max / 2)))
        }
    }

    /// The bytes of the regular file at `path`, at most `limit` of them.
    /// Errors are one line: "cannot read x: No such file or directory",
    /// "cannot read x: it is a FIFO (named pipe), not a regular file",
    /// "cannot read x: 3.00 GiB, more than the 1.00 GiB makemore reads for a word list".
    /// `noun` names the file in errors ("config" → "cannot read config x: …").
    public static func readAll(path: String, limit: Int, what: String = "a file", noun: String? = nil) throws -> [UInt8] {
        let named = (noun.map { $0 + " " } ?? "") + path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw MakemoreError("cannot read \(named): \(errorText(errno))") }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MakemoreError("cannot read \(named): \(errorText(errno))") }
        let kind = FileKind(mode: info.st_mode)
        if kind == .folder { throw MakemoreError("cannot read \(named): \(errorText(EISDIR))") }
        guard kind == .regular else {
            throw MakemoreError("cannot read \(named): it is \(kind.phrase), not a regular file")
        }
        func tooBig(_ size: Int) -> MakemoreError {
            MakemoreError("cannot read \(named): \(MemoryCheck.size(Double(size))), more than the "
                + "\(MemoryCheck.size(Double(limit))) makemore reads for \(what)")
        }
        let size = Int(info.st_size)
        if size > limit { throw tooBig(size) }

        // Read to the end, not to st_size: files under /proc report 0 bytes.
        var out = [UInt8](repeating: 0, count: max(size, 0))
        var count = 0
        while true {
            if count == out.count {
                if count > limit { throw tooBig(count) }
                out.append(contentsOf: repeatElement(0, count: max(1 << 16, min(count, limit + 1 - count))))
            }
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MakemoreError("cannot read \(named): \(errorText(errno))")
            }
            if n == 0 { break }
            count += n
        }
        if count > limit { throw tooBig(count) }
        out.removeLast(out.count - count)
        return out
    }
}

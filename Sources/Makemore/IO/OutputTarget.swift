// Where a command may write a file it makes (a checkpoint, a gradients
// file). A save renames a new file over the path, which would replace
// whatever is there: a device, someone's data, a symlink. So before any
// work the path is resolved and checked, and what is not ours is refused.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

public struct OutputTarget: Sendable {
    /// The path as the user gave it, for messages.
    public let given: String
    /// Where the bytes go: `given` with symbolic links followed, so a link
    /// stays a link and its target gets the new file.
    public let path: String
    /// Whether a file is there now (one that passed the checks).
    public let exists: Bool

    /// An input of the run, which its outputs must never replace.
    public struct Input {
        public var role: String
        public var path: String
        public init(_ role: String, _ path: String) {
            self.role = role
            self.path = path
        }
    }

    /// Resolves and checks `given` as the place to write `what` ("the
    /// checkpoint"). Refuses a folder, a device, a FIFO or a socket; any of
    /// `inputs`; a name too long for the file system; and, unless `force`, an
    /// existing file for which `replaceable` gives a reason not to replace
    /// it (nil: it may be replaced). Nothing is written or created here.
    public static func check(_ given: String, writing what: String, inputs: [Input] = [], force: Bool = false,
                             replaceable: (String) -> String?) throws -> OutputTarget {
        let path = try resolveLinks(given)
        let shown = path == given ? given : "\(given) (a link to \(path))"
        try checkName(path, shown: shown)
        let kind = FileKind.at(path)
        if kind == .missing { return OutputTarget(given: given, path: path, exists: false) }
        guard kind == .regular else {
            throw MakemoreError("refusing to write \(what) to \(shown): it is \(kind.phrase), not a regular file; give a file path")
        }
        let target = FileIdentity(path)
        for input in inputs where target != nil && FileIdentity(input.path) == target {
            throw MakemoreError("refusing to write \(what) to \(shown): it is \(input.role) of this run")
        }
        if !force, let reason = replaceable(path) {
            throw MakemoreError("refusing to replace \(shown): \(reason); give --force to replace it, or another path")
        }
        return OutputTarget(given: given, path: path, exists: true)
    }

    /// `path` with every symbolic link in its last component followed
    /// (links in the folders above need nothing: a rename goes through them).
    static func resolveLinks(_ path: String) throws -> String {
        var current = path
        for _ in 0..<40 {  // the kernel's own limit on links in a path
            var info = stat()
            guard lstat(current, &info) == 0, FileKind(mode: info.st_mode) == .symbolicLink else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buffer, buffer.count - 1)
            guard n > 0 else { throw MakemoreError("cannot write \(path): cannot read the link \(current): \(errorText(errno))") }
            let target = FilePath(String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            current = (target.isAbsolute ? target : FilePath(current).removingLastComponent().pushing(target)).string
        }
        throw MakemoreError("cannot write \(path): \(errorText(ELOOP))")
    }

    /// Fails now on a name the file system will refuse at the end of the run.
    static func checkName(_ path: String, shown: String) throws {
        guard let name = FilePath(path).lastComponent, name.kind == .regular else {
            throw MakemoreError("cannot write \(shown): not a file path")
        }
        if name.string.utf8.count > Int(NAME_MAX) || path.utf8.count >= Int(PATH_MAX) {
            throw MakemoreError("cannot write \(shown): \(errorText(ENAMETOOLONG))")
        }
    }
}

extension FilePath {
    /// The folder a file of this path lives in ("." for a bare name).
    var folder: FilePath {
        let up = removingLastComponent()
        return up.isEmpty ? "." : up
    }
}

import Foundation

// What the commands print, and how.

/// `s` as one shell word (quoted only when needed), for printed commands.
func shellQuoted(_ s: String) -> String {
    let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "/._-+=:,@%".unicodeScalars.contains($0) }
    return plain ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Progress goes to stdout, unbuffered enough to watch.
func say(_ line: String) {
    if ProcessGroup.silent { return }  // ranks other than 0 of an MPI job
    print(line)
    fflush(stdout)
}

/// One line on stderr.
func complain(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

// tmpcopyup: copies a directory's contents (files, directories, symlinks, device nodes, FIFOs)
// with their owners and modes (not their times, as runc), without following any symlink, from
// descriptors only.

import Glibc

enum TreeCopy {
    /// Copies everything below the directory `source` into the directory `target`.
    static func contents(of source: Int32, into target: Int32, what: String) throws {
        let listing = dup(source)
        guard listing >= 0, let dir = fdopendir(listing) else {
            if listing >= 0 { close(listing) }
            throw SystemError("opendir", what)
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            try copy(name, from: source, to: target, what: what + "/" + name)
        }
    }

    private static func copy(_ name: String, from source: Int32, to target: Int32, what: String) throws {
        var st = stat()
        guard fstatat(source, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError("stat", what) }
        let mode = st.st_mode & 0o7777
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            guard mkdirat(target, name, 0o700) == 0 else { throw SystemError("mkdir", what) }
            let from = try Sys.check(openat(source, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), "open", what)
            defer { close(from) }
            let to = try Sys.check(openat(target, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), "open", what)
            defer { close(to) }
            try contents(of: from, into: to, what: what)
        case S_IFREG:
            let from = try Sys.check(openat(source, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), "open", what)
            defer { close(from) }
            let to = try Sys.check(openat(target, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600), "create", what)
            defer { close(to) }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw SystemError("read", what) }
                if n == 0 { break }
                try Sys.writeAll(to, Array(buffer[0..<n]), what: what)
            }
        case S_IFLNK:
            var link = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlinkat(source, name, &link, link.count - 1)
            guard n >= 0 else { throw SystemError("readlink", what) }
            link[n] = 0
            guard symlinkat(link, target, name) == 0 else { throw SystemError("symlink", what) }
        default:
            guard mknodat(target, name, st.st_mode, st.st_rdev) == 0 else { throw SystemError("mknod", what) }
        }
        guard fchownat(target, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError("chown", what) }
        if st.st_mode & S_IFMT != S_IFLNK {
            // After chown, which clears set-id bits.
            guard fchmodat(target, name, mode, 0) == 0 else { throw SystemError("chmod", what) }
        }
    }
}

// tmpfs mounts as runc makes them, seen by an operator through /proc/PID/root of the created
// container: a tmpfs over a directory of the image takes that directory's mode (even over
// `mode=`), one on a new directory keeps the tmpfs's own, and `tmpcopyup` (podman's --tmpfs)
// starts the tmpfs with a copy of the image's files, owners, modes and symlinks.

import Foundation
import Glibc
import Testing

@Suite("tmpfs mounts against runc", .serialized)
struct TmpfsDifferentialTests {
    static func describe(_ root: String) -> [String] {
        ["scratch", "fresh", "cu", "cu/f", "cu/d", "cu/d/g", "cu/l"].map { path in
            var st = stat()
            guard lstat(root + "/" + path, &st) == 0 else { return "\(path) missing" }
            let kind = ["\(S_IFDIR)": "dir", "\(S_IFREG)": "file", "\(S_IFLNK)": "link"]["\(st.st_mode & S_IFMT)"] ?? "other"
            let content = kind == "file" ? " " + (Harness.read(root + "/" + path) ?? "?").trimmingCharacters(in: .newlines) : ""
            return "\(path) \(kind) \(String(st.st_mode & 0o7777, radix: 8)) \(st.st_uid):\(st.st_gid)\(content)"
        }
    }

    func observe(_ runtime: [String], box: Sandbox, args: [String], id: String) -> (status: Int32, errors: String, seen: [String]) {
        var process = box.process
        process["args"] = args
        box.process = process
        box.rewriteConfig()
        let pidFile = box.dir + "/\(id).pid"
        let r = Harness.spawn(runtime + ["create", "-b", box.bundle, "--pid-file", pidFile, id], timeout: 30)
        let pid = Harness.read(pidFile).flatMap { pid_t($0) }
        if let pid { Harness.adopt(pid) }
        let seen = r.status == 0 && pid != nil ? Self.describe("/proc/\(pid!)/root") : []
        _ = Harness.spawn(runtime + ["delete", "--force", id], timeout: 30)
        if let pid { _ = Harness.waitFor(pid, timeout: 5) }
        // The runtime made /fresh in the image; the next one must find it missing too.
        rmdir(box.rootfs + "/fresh")
        return (r.status, r.stderr, seen)
    }

    @Test("tmpfs modes and tmpcopyup are runc's")
    func tmpfs() throws {
        let box = Sandbox(module: Probe.wasm)
        Harness.write(box.rootfs + "/probe", Probe.native, mode: 0o755)
        let rootfs = box.rootfs
        for dir in ["proc", "dev", "scratch", "cu/d"] { Harness.mkdirs(rootfs + "/" + dir) }
        chmod(rootfs + "/scratch", 0o700)
        Harness.write(rootfs + "/cu/f", "image's file\n", mode: 0o640)
        Harness.write(rootfs + "/cu/d/g", "deeper\n", mode: 0o4755)
        _ = chown(rootfs + "/cu/f", 5, 6)
        _ = chown(rootfs + "/cu/d/g", 7, 8)
        chmod(rootfs + "/cu/d/g", 0o4755)
        chmod(rootfs + "/cu", 0o710)
        symlink("f", rootfs + "/cu/l")
        var mounts = box.config["mounts"] as! [[String: Any]]
        mounts += [
            ["destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777", "size=1m"]],
            ["destination": "/fresh", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]],
            ["destination": "/cu", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]],
        ]
        box.config["mounts"] = mounts

        let runc = observe(["/usr/sbin/runc", "--root", box.dir + "/runc-root"], box: box, args: ["/probe", "sleep", "30"], id: "runc-tmpfs")
        try #require(runc.status == 0, "runc: \(runc.errors)")
        #expect(runc.seen.contains("cu/f file 640 5:6 image's file"), "\(runc.seen)")
        let wasm = observe([Harness.binary, "--root", box.root], box: box, args: ["/app.wasm", "sleep", "30"], id: "wasm-tmpfs")
        #expect(wasm.status == 0, "runwasm: \(wasm.errors)")
        #expect(wasm.seen == runc.seen, "runc: \(runc.seen)\nrunwasm: \(wasm.seen)")
        // The image's own files were not changed by the copy.
        #expect(Harness.read(rootfs + "/cu/f") == "image's file\n")
    }

    @Test("tmpcopyup on a mount that is not a tmpfs fails create, naming the field")
    func copyUpNeedsTmpfs() {
        let box = Sandbox(module: Probe.wasm)
        var mounts = box.config["mounts"] as! [[String: Any]]
        mounts.append(["destination": "/q", "type": "proc", "source": "proc", "options": ["tmpcopyup"]])
        box.config["mounts"] = mounts
        let r = box.runwasmCaptured(["run", "-b", box.bundle, "copyup-proc"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("mounts[3].options") && r.stderr.contains("tmpcopyup"), "\(r.stderr)")
    }
}

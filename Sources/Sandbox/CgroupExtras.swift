// The resource files beyond Cgroups.apply's: block I/O, huge pages, net_cls/net_prio,
// swappiness, the OOM killer, realtime cpu time and v2's `unified`, written as runc 1.1.5's fs
// (v1) and fs2 (v2) managers write them. A value the host's cgroups cannot take fails, naming
// the field, as runc fails (`cannot set hugetlb limit` when the controller is not mounted).

import Glibc
import OCI

extension Cgroup {
    func applyExtras(_ e: ResourceExtrasPlan) throws {
        let field = "linux.resources"
        func dir(_ controller: String, for what: String) throws -> String {
            guard let d = directory(for: controller) else {
                throw RuntimeError("\(field).\(what): cannot set \(controller) limit: the \(controller) cgroup controller is not mounted")
            }
            return d
        }
        func put(_ d: String, _ file: String, _ value: String, _ what: String) throws {
            do { try Cgroup.write(d + "/" + file, value) } catch { throw RuntimeError("\(field).\(what): \(error)") }
        }
        switch version {
        case .v1:
            if let s = e.swappiness { try put(try dir("memory", for: "memory.swappiness"), "memory.swappiness", String(s), "memory.swappiness") }
            if e.disableOOMKiller == true {
                try put(try dir("memory", for: "memory.disableOOMKiller"), "memory.oom_control", "1", "memory.disableOOMKiller")
            }
            if e.realtimeRuntime != nil || e.realtimePeriod != nil {
                let d = try dir("cpu", for: "cpu.realtimeRuntime")
                // The two are checked against each other: a period the kernel refuses now may
                // pass once the runtime is written (runc's order).
                var periodLeft: String?
                if let p = e.realtimePeriod {
                    do { try Cgroup.write(d + "/cpu.rt_period_us", String(p)) } catch {
                        if e.realtimeRuntime == nil { throw RuntimeError("\(field).cpu.realtimePeriod: \(error)") }
                        periodLeft = String(p)
                    }
                }
                if let r = e.realtimeRuntime { try put(d, "cpu.rt_runtime_us", String(r), "cpu.realtimeRuntime") }
                if let p = periodLeft { try put(d, "cpu.rt_period_us", p, "cpu.realtimePeriod") }
            }
            if let b = e.blockIO {
                let d = try dir("blkio", for: "blockIO")
                // CFQ's files when the kernel has them, BFQ's otherwise (as runc detects them).
                let cfq = access(d + "/blkio.weight", F_OK) == 0
                let weightFile = cfq ? "blkio.weight" : "blkio.bfq.weight"
                let weightDeviceFile = cfq ? "blkio.weight_device" : "blkio.bfq.weight_device"
                if b.weight != 0 { try put(d, weightFile, String(b.weight), "blockIO.weight") }
                if b.leafWeight != 0 { try put(d, "blkio.leaf_weight", String(b.leafWeight), "blockIO.leafWeight") }
                for (i, w) in b.weightDevices.enumerated() {
                    if w.weight != 0 { try put(d, weightDeviceFile, "\(w.major):\(w.minor) \(w.weight)", "blockIO.weightDevice[\(i)]") }
                    if w.leafWeight != 0 {
                        try put(d, "blkio.leaf_weight_device", "\(w.major):\(w.minor) \(w.leafWeight)", "blockIO.weightDevice[\(i)]")
                    }
                }
                for (name, file, list) in [
                    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", b.readBps),
                    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", b.writeBps),
                    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", b.readIOPS),
                    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", b.writeIOPS),
                ] {
                    for (i, t) in list.enumerated() { try put(d, file, t.line, "blockIO.\(name)[\(i)]") }
                }
            }
            for (i, h) in (e.hugepageLimits ?? []).enumerated() {
                let d = try dir("hugetlb", for: "hugepageLimits[\(i)]")
                try put(d, "hugetlb.\(h.pageSize).limit_in_bytes", String(h.limit), "hugepageLimits[\(i)]")
            }
            if let id = e.classID { try put(try dir("net_cls", for: "network.classID"), "net_cls.classid", String(id), "network.classID") }
            for (i, p) in (e.priorities ?? []).enumerated() {
                let d = try dir("net_prio", for: "network.priorities[\(i)]")
                try put(d, "net_prio.ifpriomap", "\(p.name) \(p.priority)", "network.priorities[\(i)]")
            }
            if let u = e.unified, !u.isEmpty {
                throw RuntimeError("\(field).unified: invalid configuration: cannot use unified on cgroup v1")
            }
        case .v2:
            let d = directories[""]!
            // Fields with no cgroup v2 file: refused rather than dropped.
            if e.swappiness != nil { throw RuntimeError("\(field).memory.swappiness: cgroup v2 has no swappiness") }
            if e.disableOOMKiller == true { throw RuntimeError("\(field).memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer") }
            if e.realtimeRuntime != nil || e.realtimePeriod != nil {
                throw RuntimeError("\(field).cpu.realtimeRuntime: cgroup v2 has no realtime cpu limits")
            }
            if e.classID != nil || e.priorities != nil {
                throw RuntimeError("\(field).network: cgroup v2 has no net_cls or net_prio controller")
            }
            if let b = e.blockIO {
                if b.leafWeight != 0 { throw RuntimeError("\(field).blockIO.leafWeight: cgroup v2 has no leaf weight") }
                let bfq = access(d + "/io.bfq.weight", W_OK) == 0
                if b.weight != 0 {
                    if bfq {
                        try put(d, "io.bfq.weight", String(b.weight), "blockIO.weight")
                    } else {
                        // blkio 10…1000 onto io.weight 1…10000, as runc converts it.
                        let w = 1 + (UInt64(b.weight) - 10) * 9999 / 990
                        try put(d, "io.weight", String(w), "blockIO.weight")
                    }
                }
                for (i, w) in b.weightDevices.enumerated() where w.weight != 0 {
                    guard bfq else { throw RuntimeError("\(field).blockIO.weightDevice[\(i)]: needs the BFQ I/O scheduler (io.bfq.weight)") }
                    try put(d, "io.bfq.weight", "\(w.major):\(w.minor) \(w.weight)", "blockIO.weightDevice[\(i)]")
                }
                for (name, key, list) in [
                    ("throttleReadBpsDevice", "rbps", b.readBps), ("throttleWriteBpsDevice", "wbps", b.writeBps),
                    ("throttleReadIOPSDevice", "riops", b.readIOPS), ("throttleWriteIOPSDevice", "wiops", b.writeIOPS),
                ] {
                    for (i, t) in list.enumerated() { try put(d, "io.max", "\(t.major):\(t.minor) \(key)=\(t.rate)", "blockIO.\(name)[\(i)]") }
                }
            }
            for (i, h) in (e.hugepageLimits ?? []).enumerated() {
                try put(d, "hugetlb.\(h.pageSize).max", String(h.limit), "hugepageLimits[\(i)]")
            }
            for (key, value) in (e.unified ?? [:]).sorted(by: { $0.key < $1.key }) {
                try put(d, key, value, "unified.\(key)")
            }
        }
    }
}

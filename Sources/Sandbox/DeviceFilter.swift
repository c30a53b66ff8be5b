// Device rules on cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the
// container's cgroup, which the kernel asks on every open and mknod of a device node (v2 has no
// devices.allow/deny files). The program is built here, instruction by instruction; CSandbox
// only loads and attaches it.
//
// Semantics, as cgroup v1's device list gives them to the same rules: the rules are read from the
// last to the first, and the first that matches the device (type, major, minor; `a` and -1 match
// any) decides: an allow rule that covers every access asked for (read, write, mknod) allows, a
// deny rule that covers any of them denies, and a rule that does neither is passed over. When no
// rule decides, the access is allowed (a config that wants a whitelist starts with a deny-all
// rule, as every caller's does).

import CSandbox
import Glibc
import OCI

enum DeviceFilter {
    /// One `struct bpf_insn`: opcode, destination and source registers, offset, immediate.
    struct Instruction {
        var code: UInt8
        var dst: UInt8 = 0
        var src: UInt8 = 0
        var off: Int16 = 0
        var imm: Int32 = 0

        var bytes: [UInt8] {
            let o = UInt16(bitPattern: off)
            let i = UInt32(bitPattern: imm)
            return [code, (src << 4) | (dst & 0x0f), UInt8(o & 0xff), UInt8(o >> 8),
                    UInt8(i & 0xff), UInt8((i >> 8) & 0xff), UInt8((i >> 16) & 0xff), UInt8(i >> 24)]
        }

        // Opcodes (linux/bpf_common.h, linux/bpf.h).
        static func loadWord(_ dst: UInt8, from src: UInt8, offset: Int16) -> Self {
            Self(code: 0x61, dst: dst, src: src, off: offset)  // BPF_LDX | BPF_MEM | BPF_W
        }
        static func move(_ dst: UInt8, from src: UInt8) -> Self { Self(code: 0xbf, dst: dst, src: src) }  // ALU64 MOV X
        static func move(_ dst: UInt8, _ imm: Int32) -> Self { Self(code: 0xb7, dst: dst, imm: imm) }  // ALU64 MOV K
        static func and(_ dst: UInt8, _ imm: Int32) -> Self { Self(code: 0x57, dst: dst, imm: imm) }  // ALU64 AND K
        static func rightShift(_ dst: UInt8, _ imm: Int32) -> Self { Self(code: 0x77, dst: dst, imm: imm) }  // ALU64 RSH K
        static func jumpIfNotEqual(_ dst: UInt8, _ imm: Int32, skip: Int16) -> Self {
            Self(code: 0x55, dst: dst, off: skip, imm: imm)  // JMP JNE K
        }
        static func jumpIfEqual(_ dst: UInt8, _ imm: Int32, skip: Int16) -> Self {
            Self(code: 0x15, dst: dst, off: skip, imm: imm)  // JMP JEQ K
        }
        static let exit = Self(code: 0x95)
    }

    // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }: access_type holds the
    // device type in its low 16 bits (1 block, 2 char) and the access in its high ones
    // (1 mknod, 2 read, 4 write).
    static let type: UInt8 = 2, access: UInt8 = 3, major: UInt8 = 4, minor: UInt8 = 5, scratch: UInt8 = 6

    static func accessBits(_ access: String) -> Int32 {
        (access.contains("m") ? 1 : 0) | (access.contains("r") ? 2 : 0) | (access.contains("w") ? 4 : 0)
    }

    /// The program for `rules`, in order.
    static func program(_ rules: [DeviceRulePlan]) -> [Instruction] {
        var code: [Instruction] = [
            .loadWord(type, from: 1, offset: 0),
            .move(access, from: type),
            .and(type, 0xffff),
            .rightShift(access, 16),
            .loadWord(major, from: 1, offset: 4),
            .loadWord(minor, from: 1, offset: 8),
        ]
        for rule in rules.reversed() {
            var block: [Instruction] = []
            // Each test jumps past the rest of this rule's block when it fails; offsets are
            // filled in once the block's length is known (`skipToEnd`).
            if rule.type != "a" { block.append(.jumpIfNotEqual(type, rule.type == "b" ? 1 : 2, skip: 0)) }
            if rule.major >= 0 { block.append(.jumpIfNotEqual(major, Int32(truncatingIfNeeded: rule.major), skip: 0)) }
            if rule.minor >= 0 { block.append(.jumpIfNotEqual(minor, Int32(truncatingIfNeeded: rule.minor), skip: 0)) }
            let bits = accessBits(rule.access)
            block.append(.move(scratch, from: access))
            if rule.allow {
                // every access asked for is in the rule's
                block.append(.and(scratch, ~bits & 7))
                block.append(.jumpIfNotEqual(scratch, 0, skip: 0))
            } else {
                // some access asked for is in the rule's
                block.append(.and(scratch, bits))
                block.append(.jumpIfEqual(scratch, 0, skip: 0))
            }
            block.append(.move(0, rule.allow ? 1 : 0))
            block.append(.exit)
            for i in block.indices where [0x55, 0x15].contains(block[i].code) {
                block[i].off = Int16(block.count - 1 - i)
            }
            code += block
        }
        code += [.move(0, 1), .exit]
        return code
    }

    /// Loads the program for `rules` and attaches it to the cgroup v2 directory open at `fd`.
    static func attach(_ rules: [DeviceRulePlan], toCgroup fd: Int32, path: String) throws {
        let bytes = program(rules).flatMap(\.bytes)
        var log = [CChar](repeating: 0, count: 64 * 1024)
        let prog = bytes.withUnsafeBytes { rw_bpf_load_device_program($0.baseAddress, bytes.count / 8, &log, log.count) }
        guard prog >= 0 else {
            let verifier = String(cString: log).split(separator: "\n").suffix(3).joined(separator: "; ")
            throw SystemError("bpf(BPF_PROG_LOAD)", "the device filter for linux.resources.devices\(verifier.isEmpty ? "" : " (\(verifier))")", errno: -prog)
        }
        defer { close(prog) }
        try Sys.check(rw_bpf_attach_device_program(fd, prog), "bpf(BPF_PROG_ATTACH)", "device filter to \(path)")
    }
}

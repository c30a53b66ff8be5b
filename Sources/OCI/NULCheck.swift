// A NUL byte in a string that reaches the kernel (a path, an argument, an environment entry, a
// name) would silently cut it there: such a config is refused, naming the field, as runc does.

extension ContainerPlan {
    /// Throws for the first string of `spec` that holds a NUL byte, except annotations, which
    /// never leave runwasm.
    static func refuseNULBytes(_ spec: Spec) throws(ConfigError) {
        func check(_ field: String, _ value: String?) throws(ConfigError) {
            guard let value, value.utf8.contains(0) else { return }
            throw ConfigError(field, "contains a NUL byte")
        }
        func check(_ field: String, _ values: [String]?) throws(ConfigError) {
            for (i, value) in (values ?? []).enumerated() { try check("\(field)[\(i)]", value) }
        }
        try check("root.path", spec.root?.path)
        try check("hostname", spec.hostname)
        try check("domainname", spec.domainname)
        if let process = spec.process {
            try check("process.args", process.args)
            try check("process.env", process.env)
            try check("process.cwd", process.cwd)
            if let caps = process.capabilities {
                try check("process.capabilities.bounding", caps.bounding)
                try check("process.capabilities.effective", caps.effective)
                try check("process.capabilities.inheritable", caps.inheritable)
                try check("process.capabilities.permitted", caps.permitted)
                try check("process.capabilities.ambient", caps.ambient)
            }
            for (i, rlimit) in (process.rlimits ?? []).enumerated() { try check("process.rlimits[\(i)].type", rlimit.type) }
        }
        for (i, mount) in (spec.mounts ?? []).enumerated() {
            try check("mounts[\(i)].destination", mount.destination)
            try check("mounts[\(i)].source", mount.source)
            try check("mounts[\(i)].type", mount.type)
            try check("mounts[\(i)].options", mount.options)
        }
        if let hooks = spec.hooks {
            for (kind, list) in [
                ("prestart", hooks.prestart), ("createRuntime", hooks.createRuntime), ("createContainer", hooks.createContainer),
                ("startContainer", hooks.startContainer), ("poststart", hooks.poststart), ("poststop", hooks.poststop),
            ] {
                for (i, hook) in (list ?? []).enumerated() {
                    try check("hooks.\(kind)[\(i)].path", hook.path)
                    try check("hooks.\(kind)[\(i)].args", hook.args)
                    try check("hooks.\(kind)[\(i)].env", hook.env)
                }
            }
        }
        if let linux = spec.linux {
            for (i, ns) in (linux.namespaces ?? []).enumerated() { try check("linux.namespaces[\(i)].path", ns.path) }
            for (key, value) in (linux.sysctl ?? [:]).sorted(by: { $0.key < $1.key }) {
                try check("linux.sysctl", key)
                try check("linux.sysctl.\(key)", value)
            }
            try check("linux.cgroupsPath", linux.cgroupsPath)
            try check("linux.rootfsPropagation", linux.rootfsPropagation)
            try check("linux.maskedPaths", linux.maskedPaths)
            try check("linux.readonlyPaths", linux.readonlyPaths)
            try check("linux.resources.cpu.cpus", linux.resources?.cpu?.cpus)
            try check("linux.resources.cpu.mems", linux.resources?.cpu?.mems)
            if let seccomp = linux.seccomp {
                try check("linux.seccomp.architectures", seccomp.architectures)
                try check("linux.seccomp.flags", seccomp.flags)
                for (i, rule) in (seccomp.syscalls ?? []).enumerated() { try check("linux.seccomp.syscalls[\(i)].names", rule.names) }
            }
        }
    }
}

import Foundation

/// The images the suites push, generated once per test process into a temporary directory that is
/// removed when the process exits.
actor TestImages {
    /// The one instance shared by all suites.
    static let shared = TestImages()

    /// The platform of this machine, for images that must run here.
    static let hostPlatform: Platform = {
        #if arch(arm64)
        return .arm64
        #else
        return .amd64
        #endif
    }()

    /// The OCI layout the suites push from (tags are the image names, with `oci:` references).
    ///
    /// - `v1`: linux/amd64, 3 layers of 16 KiB (dirs, files, an executable, a symlink, a hard link, a whiteout)
    /// - `multi`: an image index over linux/amd64 and linux/arm64/v8
    /// - `big`: 2 layers of 12 MiB each
    static let ociSpecs = [
        ImageSpec(tag: "v1"),
        ImageSpec(tag: "multi", platforms: [.amd64, .arm64]),
        ImageSpec(tag: "big", layerCount: 2, payloadKiB: 12 * 1024),
    ]

    /// A layout of one Docker schema2 manifest list (`d2`) over linux/amd64 and linux/arm64/v8.
    static let dockerSpecs = [ImageSpec(tag: "d2", platforms: [.amd64, .arm64], dockerMediaTypes: true)]

    /// The greeting the busybox image prints when run.
    static let busyboxGreeting = "hello from pier"

    private var root: TemporaryDirectory?
    private var layouts: [String: ImageLayout] = [:]

    /// The layout of ``ociSpecs``.
    func oci() throws -> ImageLayout { try layout("oci") { try LayoutGenerator.write(Self.ociSpecs, to: $0) } }

    /// The layout of ``dockerSpecs``.
    func docker() throws -> ImageLayout { try layout("docker") { try LayoutGenerator.write(Self.dockerSpecs, to: $0) } }

    /// A runnable image, tag `busybox`: `/bin/busybox` from busybox-static as its only file, for the
    /// host platform, with `Cmd ["/bin/busybox", "echo", "hello from pier"]`. Its digest depends on
    /// the installed busybox, unlike the other images.
    func busybox() throws -> ImageLayout {
        let binary = try Tools.file("/bin/busybox", package: "busybox-static")
        let data = try Data(contentsOf: URL(filePath: binary))
        let spec = ImageSpec(
            tag: "busybox", platforms: [Self.hostPlatform],
            customLayers: [[.init(path: "bin/", kind: .directory), .init(path: "bin/busybox", kind: .file(data, executable: true))]],
            command: ["/bin/busybox", "echo", Self.busyboxGreeting])
        return try layout("busybox") { try LayoutGenerator.write([spec], to: $0) }
    }

    private func layout(_ name: String, make: (URL) throws -> ImageLayout) throws -> ImageLayout {
        if let layout = layouts[name] { return layout }
        let root = try self.root ?? Self.makeRoot()
        self.root = root
        let layout = try make(root.appending(name))
        layouts[name] = layout
        return layout
    }

    private static func makeRoot() throws -> TemporaryDirectory {
        let root = try TemporaryDirectory("images")
        imagesRootForCleanup = root
        // Swift Testing has no hook after the last suite, so the directory goes when the process exits.
        atexit { imagesRootForCleanup?.remove() }
        return root
    }
}

/// The generated images' directory, read by the `atexit` handler (which cannot capture context).
nonisolated(unsafe) private var imagesRootForCleanup: TemporaryDirectory?

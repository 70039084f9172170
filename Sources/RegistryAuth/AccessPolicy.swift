/// Who may do what to which repositories: Pier's `access` rules.
///
/// A repository takes its actions from the one rule whose pattern matches it most specifically (the longest
/// pattern; the first in file order among equals), as zot does: a rule for `team-a/**` replaces a rule for `**`
/// inside `team-a/`, so a broad grant never leaks into a narrower one. Within that rule a caller gets the union of
/// what names them, their groups, `authenticated` (anyone signed in) and `anonymous` (everyone). Admins may do
/// everything everywhere. A repository no pattern matches grants nothing.
public struct AccessPolicy: Sendable {
    /// What an access rule may grant on a repository.
    public enum Action: String, Sendable, Hashable, CaseIterable, Comparable {
        case pull, push, delete

        public static func < (lhs: Action, rhs: Action) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }

        /// `pull`, `push`, `delete`, or `*` for all three.
        public static func parse(_ names: [String]) -> Set<Action> {
            var actions: Set<Action> = []
            for name in names {
                if name == "*" { return Set(allCases) }
                if let action = Action(rawValue: name.lowercased()) { actions.insert(action) }
            }
            return actions
        }
    }

    /// The actions of one repository pattern.
    public struct Rule: Sendable {
        public let pattern: RepositoryPattern
        public var users: [String: Set<Action>]
        public var groups: [String: Set<Action>]
        public var authenticated: Set<Action>
        public var anonymous: Set<Action>

        public init(pattern: RepositoryPattern, users: [String: Set<Action>] = [:], groups: [String: Set<Action>] = [:],
                    authenticated: Set<Action> = [], anonymous: Set<Action> = []) {
            self.pattern = pattern
            self.users = users
            self.groups = groups
            self.authenticated = authenticated
            self.anonymous = anonymous
        }
    }

    let rules: [Rule]
    let admins: Set<String>
    /// Groups by member.
    let groupsOfUser: [String: Set<String>]

    /// - Parameter groups: members by group name.
    public init(rules: [Rule], groups: [String: [String]] = [:], admins: [String] = []) {
        self.rules = rules
        self.admins = Set(admins)
        var groupsOfUser: [String: Set<String>] = [:]
        for (group, members) in groups {
            for member in members { groupsOfUser[member, default: []].insert(group) }
        }
        self.groupsOfUser = groupsOfUser
    }

    /// The policy without rules: signed-in users may do everything, anonymous clients nothing.
    public static let authenticatedOnly = AccessPolicy(rules: [Rule(pattern: .everything, authenticated: Set(Action.allCases))])

    /// Whether `user` may do everything everywhere (and list every repository).
    public func isAdmin(_ user: String?) -> Bool {
        user.map(admins.contains) ?? false
    }

    /// What `user` (`nil` when anonymous) may do to `repository`.
    public func actions(for user: String?, on repository: String) -> Set<Action> {
        if isAdmin(user) { return Set(Action.allCases) }
        guard let rule = rule(for: repository) else { return [] }
        var granted = rule.anonymous
        if let user {
            granted.formUnion(rule.authenticated)
            granted.formUnion(rule.users[user] ?? [])
            for group in groupsOfUser[user] ?? [] {
                granted.formUnion(rule.groups[group] ?? [])
            }
        }
        return granted
    }

    /// Whether clients without credentials may do anything anywhere.
    public var allowsAnonymous: Bool {
        rules.contains { !$0.anonymous.isEmpty }
    }

    /// The most specific rule matching `repository`.
    func rule(for repository: String) -> Rule? {
        var best: Rule?
        for rule in rules where rule.pattern.matches(repository) {
            if best == nil || rule.pattern.specificity > best!.pattern.specificity { best = rule }
        }
        return best
    }
}

/// A repository glob: `*` matches within one path component, `**` any number of components (`team-a/**` matches
/// `team-a`, `team-a/app` and `team-a/x/y`).
public struct RepositoryPattern: Sendable, Hashable, CustomStringConvertible {
    public let description: String
    private let characters: [UInt8]

    public init(_ pattern: String) {
        description = pattern
        characters = Array(pattern.utf8)
    }

    /// `**`: every repository.
    public static let everything = RepositoryPattern("**")

    /// Longer patterns are more specific.
    var specificity: Int { characters.count }

    public func matches(_ name: String) -> Bool {
        let name = Array(name.utf8)
        // `x/**` also matches `x` itself.
        if characters.count >= 3, characters.suffix(3) == Array("/**".utf8), Self.match(Array(characters.dropLast(3)), 0, name, 0) {
            return true
        }
        return Self.match(characters, 0, name, 0)
    }

    private static let slash = UInt8(ascii: "/")
    private static let star = UInt8(ascii: "*")

    /// Glob matching by dynamic programming over (pattern position, name position): O(pattern × name) steps
    /// whatever the pattern, so no pattern can make a request spin.
    private static func match(_ pattern: [UInt8], _ p0: Int, _ name: [UInt8], _ n0: Int) -> Bool {
        let width = name.count + 1
        // 0: unknown, 1: matches, 2: does not.
        var memo = [UInt8](repeating: 0, count: (pattern.count + 1) * width)
        func solve(_ p: Int, _ n: Int) -> Bool {
            let key = p * width + n
            if memo[key] != 0 { return memo[key] == 1 }
            let result: Bool
            if p == pattern.count {
                result = n == name.count
            } else if pattern[p] == star {
                let double = p + 1 < pattern.count && pattern[p + 1] == star
                let rest = p + (double ? 2 : 1)
                if double, rest < pattern.count, pattern[rest] == slash, solve(rest + 1, n) {
                    // `**/` also matches zero components.
                    result = true
                } else if solve(rest, n) {
                    // The star matches nothing.
                    result = true
                } else {
                    // The star takes one more character: any with `**`, any but `/` with `*`.
                    result = n < name.count && (double || name[n] != slash) && solve(p, n + 1)
                }
            } else {
                result = n < name.count && name[n] == pattern[p] && solve(p + 1, n + 1)
            }
            memo[key] = result ? 1 : 2
            return result
        }
        return solve(p0, n0)
    }
}

import BackplaneModel
import Testing
@testable import BusController

@Suite("the Migration Engine's choice of instances")
struct ShardServiceTests {
    @Test("a target is an instance of the workload itself: never a namesake's prefix, never another tenant's")
    func instancesOfAWorkload() {
        #expect(ShardService.isInstance("kv-0", of: "default/kv"))
        #expect(ShardService.isInstance("kv-12", of: "default/kv"))
        #expect(!ShardService.isInstance("kv-cache-0", of: "default/kv"), "workload kv-cache")
        #expect(!ShardService.isInstance("kv-x_y-0", of: "default/kv"), "tenant kv-x's workload y")
        #expect(!ShardService.isInstance("kv-", of: "default/kv"))
        #expect(!ShardService.isInstance("kv-01", of: "default/kv"), "not the id of any ordinal")
        #expect(!ShardService.isInstance("kv--1", of: "default/kv"))
        #expect(!ShardService.isInstance("kv-٣", of: "default/kv"), "a non-ASCII digit")
        #expect(ShardService.isInstance("team-a_kv-1", of: "team-a/kv"))
        #expect(!ShardService.isInstance("kv-1", of: "team-a/kv"), "the default tenant's kv")
        #expect(!ShardService.isInstance("kv-99999999999999999999", of: "default/kv"), "an ordinal past Int")
        #expect(!ShardService.isInstance("kv-0", of: "kv"), "a key without a tenant")
    }
}

import Testing
@testable import Xenops

@Suite struct DeviceNumberTests {
    @Test func xenDisks() {
        #expect(DeviceNumber(linuxName: "xvda")?.xenstoreKey == 51712)
        #expect(DeviceNumber(linuxName: "xvdb")?.xenstoreKey == 51728)
        #expect(DeviceNumber(xenstoreKey: 51712)?.linuxName == "xvda")
        #expect(DeviceNumber(linuxName: "xvdq")?.xenstoreKey == (1 << 28) | (16 << 8))
        #expect(DeviceNumber(xenstoreKey: (1 << 28) | (26 << 8))?.linuxName == "xvdaa")
        #expect(DeviceNumber(linuxName: "xvda1")?.xenstoreKey == 51713)
    }

    @Test func ideAndScsi() {
        #expect(DeviceNumber(linuxName: "hda")?.xenstoreKey == 768)
        #expect(DeviceNumber(linuxName: "hdb")?.xenstoreKey == 768 | 64)
        #expect(DeviceNumber(linuxName: "hdc")?.xenstoreKey == 22 << 8)
        #expect(DeviceNumber(xenstoreKey: 768)?.linuxName == "xvda")
        #expect(DeviceNumber(linuxName: "sdb")?.xenstoreKey == (8 << 8) | 16)
        #expect(DeviceNumber(linuxName: "bogus") == nil)
        #expect(DeviceNumber(linuxName: "fdb1") == nil)
    }

    @Test func letters() {
        #expect(DeviceNumber.letters(0) == "a")
        #expect(DeviceNumber.letters(25) == "z")
        #expect(DeviceNumber.letters(26) == "aa")
        #expect(DeviceNumber.letters(27) == "ab")
        for n in [0, 5, 25, 26, 51, 52, 701, 702, 1000] {
            #expect(DeviceNumber(linuxName: "xvd" + DeviceNumber.letters(n))?.disk == n)
        }
    }
}

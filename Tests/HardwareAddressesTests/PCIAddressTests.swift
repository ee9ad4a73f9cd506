import HardwareAddresses
import Testing

@Suite struct PCIAddressTests {
    @Test func canonicalFormIsTheKernelsLowerCaseWithADomain() {
        #expect(PCIAddress.canonical("0000:5e:00.1") == "0000:5e:00.1")
        #expect(PCIAddress.canonical("0000:5E:00.1") == "0000:5e:00.1")
        #expect(PCIAddress.canonical("5e:00.1") == "0000:5e:00.1")
        #expect(PCIAddress.canonical("0:5e:00.1") == "0000:5e:00.1")
        #expect(PCIAddress.canonical("00000000:5e:00.1") == "0000:5e:00.1")
        #expect(PCIAddress.canonical("10000:01:1f.7") == "10000:01:1f.7")
        #expect(PCIAddress.canonical("ABCDEF01:ff:1f.7") == "abcdef01:ff:1f.7")
    }

    @Test func whatIsNotAPCIAddressIsRefused() {
        for bad in ["", ":", "5e:00", "5e:00.1.0", "0000:5e:00.1 ", " 0000:5e:00.1", "0000:5e:20.0", "0000:5e:00.8",
                    "0000:5e:0.1", "0000:5:00.1", "0000:5e:00.10", "123456789:5e:00.1", ":5e:00.1", "0000::00.1",
                    "00g0:5e:00.1", "usb-0000:00:14.0-1", "../../etc", "0000:5e:00:00.1", "+000:5e:00.1", "0000:5e:-1.0"] {
            #expect(PCIAddress.canonical(bad) == nil, "\(bad)")
        }
    }

    @Test func sysfsNamesAreCanonical() {
        #expect(PCIAddress.isCanonical("0000:5e:00.1"))
        #expect(PCIAddress.isCanonical("10000:00:1f.7"))
        #expect(!PCIAddress.isCanonical("0000:5E:00.1"))
        #expect(!PCIAddress.isCanonical("5e:00.1"))
        #expect(!PCIAddress.isCanonical("0000:5e:00.8"))
    }

    @Test func canonicalIsIdempotentOnRandomInput() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefABCDEFg:.")
        for _ in 0..<5_000 {
            let s = String((0..<Int.random(in: 0...16, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            if let c = PCIAddress.canonical(s) {
                #expect(PCIAddress.canonical(c) == c, "\(s)")
                #expect(PCIAddress.isCanonical(c), "\(s)")
            }
        }
    }
}

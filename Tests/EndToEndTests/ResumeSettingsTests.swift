import Foundation
import Testing

extension EndToEnd {
    /// `--resume DIR` continues the run its checkpoint belongs to without the flags repeated, and
    /// lets the learning rate and the run's length change with a notice.
    @Suite("resume: the checkpoint's settings, and the changes it allows")
    struct ResumeSettingsTests {
        @Test func aResumeNeedsOnlyTheDirectoryAndMayLowerTheRate() async throws {
            let scratch = try ScratchDirectory("resume-settings")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let defining = [
                "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--optimizer", "adam", "--lr", "0.01", "--seed", "5",
                "--batch", "32",
            ]
            let reference = scratch.file("uninterrupted.safetensors")
            let whole = try await Descent.coordinator(
                ["train", "--in-process"] + defining + ["--steps", "20", "--out", reference], in: scratch)
            try #require(whole.succeeded, "\(whole.transcript)")

            let checkpoints = scratch.file("checkpoints")
            let first = try await Descent.coordinator(
                ["train", "--in-process"] + defining + [
                    "--steps", "10", "--checkpoint-dir", checkpoints, "--checkpoint-every", "5", "--out",
                    scratch.file("first.safetensors"),
                ], in: scratch)
            try #require(first.succeeded, "\(first.transcript)")

            // Only the directory and the new length: the rest comes from the checkpoint.
            let resumedOut = scratch.file("resumed.safetensors")
            let resumed = try await Descent.coordinator(
                ["train", "--in-process", "--resume", checkpoints, "--steps", "20", "--out", resumedOut], in: scratch)
            try #require(resumed.succeeded, "\(resumed.transcript)")
            #expect(resumed.stderr.contains("--layers 8,16,3"), "\(resumed.transcript)")
            #expect(resumed.stderr.contains("resumed from \(checkpoints) at step 10"), "\(resumed.transcript)")
            #expect(
                try ModelComparison.sameTensors(resumedOut, reference),
                "the resumed run differs from the uninterrupted one")

            // A lower rate is a documented change: said, and taken.
            let lowered = scratch.file("lowered.safetensors")
            let slower = try await Descent.coordinator(
                ["train", "--in-process", "--resume", checkpoints, "--steps", "20", "--lr", "0.001", "--out", lowered],
                in: scratch)
            try #require(slower.succeeded, "\(slower.transcript)")
            #expect(slower.stderr.contains("lr changes from 0.01 to 0.001 at step 10"), "\(slower.transcript)")
            #expect(!(try ModelComparison.sameTensors(lowered, reference)), "the lower rate changed nothing")
        }
    }
}

// LibTorch's random generator is process-wide: tests that seed it (dropout masks, resume) must not interleave.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

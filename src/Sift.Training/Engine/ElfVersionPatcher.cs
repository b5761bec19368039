using System.Buffers.Binary;
using System.Text;

namespace Sift.Training.Engine;

/// <summary>
/// Minimal ELF64 (little-endian) reader/patcher for symbol-version sections.
/// Why it exists: TorchSharp 0.107's libLibTorchSharp.so was linked against GCC 13's libstdc++ and records a
/// version need for GLIBCXX_3.4.32 (only for <c>_ZSt21ios_base_library_initv</c>, a marker symbol with no
/// relocation). Debian 12 ships libstdc++ up to GLIBCXX_3.4.30, so the dynamic loader refuses the library.
/// Marking that one version-need entry weak (<c>vna_flags |= VER_FLG_WEAK</c>) makes ld.so accept a missing
/// version definition; nothing in the library actually binds to the symbol, so behaviour is unchanged.
/// </summary>
public static class ElfVersionPatcher
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVerdef = 0x6ffffffd;
    public const ushort VerFlgWeak = 0x2;

    public sealed record VersionNeed(string File, string Version, ushort Flags, int FlagsOffset);

    /// <summary>All (file, version) entries of .gnu.version_r with the file offset of each vna_flags field.</summary>
    public static List<VersionNeed> ReadVersionNeeds(byte[] elf)
    {
        var result = new List<VersionNeed>();
        foreach (var (off, size, link, _) in Sections(elf, ShtGnuVerneed))
        {
            var (strOff, _, _, _) = SectionAt(elf, (int)link);
            long p = off;
            while (true)
            {
                ushort cnt = U16(elf, p + 2);
                string file = CStr(elf, strOff + U32(elf, p + 4));
                uint aux = U32(elf, p + 8), next = U32(elf, p + 12);
                long a = p + aux;
                for (int i = 0; i < cnt; i++)
                {
                    ushort flags = U16(elf, a + 4);
                    string name = CStr(elf, strOff + U32(elf, a + 8));
                    result.Add(new VersionNeed(file, name, flags, checked((int)(a + 4))));
                    uint an = U32(elf, a + 12);
                    if (an == 0) break;
                    a += an;
                }
                if (next == 0) break;
                p += next;
                if (p >= off + (long)size) break;
            }
        }
        return result;
    }

    /// <summary>Version names a shared library defines (.gnu.version_d), e.g. GLIBCXX_3.4.30 for libstdc++.</summary>
    public static HashSet<string> ReadVersionDefinitions(byte[] elf)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (off, _, link, _) in Sections(elf, ShtGnuVerdef))
        {
            var (strOff, _, _, _) = SectionAt(elf, (int)link);
            long p = off;
            while (true)
            {
                ushort cnt = U16(elf, p + 6);
                uint aux = U32(elf, p + 12), next = U32(elf, p + 16);
                long a = p + aux;
                for (int i = 0; i < cnt; i++)
                {
                    result.Add(CStr(elf, strOff + U32(elf, a)));
                    uint an = U32(elf, a + 4);
                    if (an == 0) break;
                    a += an;
                }
                if (next == 0) break;
                p += next;
            }
        }
        return result;
    }

    /// <summary>Sets VER_FLG_WEAK on every need of <paramref name="version"/>; returns how many entries changed.</summary>
    public static int MarkWeak(byte[] elf, string version)
    {
        int changed = 0;
        foreach (var need in ReadVersionNeeds(elf))
        {
            if (need.Version != version || (need.Flags & VerFlgWeak) != 0) continue;
            BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(need.FlagsOffset), (ushort)(need.Flags | VerFlgWeak));
            changed++;
        }
        return changed;
    }

    private static void CheckHeader(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("only little-endian ELF64 is supported");
    }

    private static (long Offset, ulong Size, uint Link, uint Type) SectionAt(byte[] elf, int index)
    {
        long shoff = (long)U64(elf, 0x28);
        ushort shentsize = U16(elf, 0x3A);
        long h = shoff + (long)index * shentsize;
        return ((long)U64(elf, h + 0x18), U64(elf, h + 0x20), U32(elf, h + 0x28), U32(elf, h + 4));
    }

    private static IEnumerable<(long Offset, ulong Size, uint Link, uint Type)> Sections(byte[] elf, uint type)
    {
        CheckHeader(elf);
        ushort shnum = U16(elf, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            var s = SectionAt(elf, i);
            if (s.Type == type) yield return s;
        }
    }

    private static ushort U16(byte[] b, long o) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(checked((int)o)));
    private static uint U32(byte[] b, long o) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(checked((int)o)));
    private static ulong U64(byte[] b, long o) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(checked((int)o)));

    private static string CStr(byte[] b, long o)
    {
        int start = checked((int)o), end = Array.IndexOf(b, (byte)0, start);
        return Encoding.ASCII.GetString(b, start, end - start);
    }
}

using System.Runtime.InteropServices;
using Sift.Training.Engine;

namespace Sift.Training.Training;

/// <summary>A plain binary list of named float32 tensors (checkpoints); written to a temp file then renamed, so a kill never leaves half a file.</summary>
public static class TensorFile
{
    private const int Magic = 0x53465431; // "SFT1"

    public static void Write(string path, IReadOnlyList<NamedTensor> tensors)
    {
        var tmp = path + "." + Environment.ProcessId + ".tmp";
        using (var w = new BinaryWriter(File.Create(tmp)))
        {
            w.Write(Magic);
            w.Write(tensors.Count);
            foreach (var t in tensors)
            {
                w.Write(t.Name);
                w.Write(t.Shape.Length);
                foreach (var d in t.Shape) w.Write(d);
                w.Write(t.Data.Length);
                w.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
            }
        }
        File.Move(tmp, path, overwrite: true);
    }

    public static List<NamedTensor> Read(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        if (r.ReadInt32() != Magic) throw new InvalidDataException($"{path}: not a sift tensor file");
        int n = r.ReadInt32();
        var list = new List<NamedTensor>(n);
        for (int i = 0; i < n; i++)
        {
            var name = r.ReadString();
            var shape = new long[r.ReadInt32()];
            for (int k = 0; k < shape.Length; k++) shape[k] = r.ReadInt64();
            var data = new float[r.ReadInt32()];
            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
            list.Add(new NamedTensor(name, data, shape));
        }
        return list;
    }
}

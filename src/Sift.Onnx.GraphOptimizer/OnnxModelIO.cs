using Google.Protobuf;
using Sift.Onnx.GraphOptimizer.Proto;

namespace Sift.Onnx.GraphOptimizer;

internal static class OnnxModelIO
{
    public static ModelProto Load(string path)
    {
        using var fs = File.OpenRead(path);
        using var cis = new CodedInputStream(fs);
        return ModelProto.Parser.ParseFrom(cis);
    }

    public static void Save(ModelProto model, string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var tmp = path + "." + Environment.ProcessId + ".tmp";
        using (var fs = File.Create(tmp))
        {
            model.WriteTo(fs);
        }
        File.Move(tmp, path, overwrite: true);
    }
}

internal static class TensorData
{
    public static double[] ReadAsDoubles(TensorProto t)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External) throw new NotSupportedException("external data");
        var type = (TensorProto.Types.DataType)t.DataType;
        var raw = t.RawData.Span;
        switch (type)
        {
            case TensorProto.Types.DataType.Float:
                if (!raw.IsEmpty) return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray().Select(v => (double)v).ToArray();
                return t.FloatData.Select(v => (double)v).ToArray();
            case TensorProto.Types.DataType.Int64:
                if (!raw.IsEmpty) return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(raw).ToArray().Select(v => (double)v).ToArray();
                return t.Int64Data.Select(v => (double)v).ToArray();
            case TensorProto.Types.DataType.Int32:
                if (!raw.IsEmpty) return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(raw).ToArray().Select(v => (double)v).ToArray();
                return t.Int32Data.Select(v => (double)v).ToArray();
            case TensorProto.Types.DataType.Int8:
                if (!raw.IsEmpty) return raw.ToArray().Select(v => (double)(sbyte)v).ToArray();
                return t.Int32Data.Select(v => (double)v).ToArray();
            case TensorProto.Types.DataType.Uint8:
                if (!raw.IsEmpty) return raw.ToArray().Select(v => (double)v).ToArray();
                return t.Int32Data.Select(v => (double)v).ToArray();
            default:
                throw new NotSupportedException(type.ToString());
        }
    }

    public static float[] ReadFloats(TensorProto t)
    {
        if ((TensorProto.Types.DataType)t.DataType != TensorProto.Types.DataType.Float) throw new NotSupportedException("not float");
        if (t.DataLocation == TensorProto.Types.DataLocation.External) throw new NotSupportedException("external data");
        if (!t.RawData.IsEmpty) return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
        return t.FloatData.ToArray();
    }

    public static TensorProto FromFloats(string name, float[] data, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
        return t;
    }
}

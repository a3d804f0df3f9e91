// Shared source: compiled into the MSBuild inline task (build/TorchSharpGlibcxxFix.targets) and into the tests.
// TorchSharp 0.107's libLibTorchSharp.so declares a need for GLIBCXX_3.4.32 only because of a `.globl` reference to
// std::ios_base_library_init that is never called. Debian 12 / Ubuntu 22.04 ship libstdc++ up to GLIBCXX_3.4.30, so
// the loader refuses the library. Marking that one Vernaux entry VER_FLG_WEAK turns the hard need into a weak one.
// ELF64 little-endian layouts from the System V gABI: Elf64_Ehdr, Elf64_Shdr, Elf64_Verneed, Elf64_Vernaux.
using System;
using System.IO;
using System.Text;

namespace T2VTurbo.Build
{
    public static class ElfVersionNeedPatcher
    {
        public const ushort VerFlgWeak = 0x2;
        private const uint ShtGnuVerneed = 0x6ffffffe;

        /// <summary>Outcome of <see cref="MarkWeak"/>.</summary>
        public enum Result { Patched, AlreadyWeak, NotNeeded }

        /// <summary>Sets VER_FLG_WEAK on every Vernaux entry named <paramref name="version"/> in the file's
        /// .gnu.version_r section. Only those flag bytes change; the file is rewritten atomically.</summary>
        public static Result MarkWeak(string path, string version)
        {
            byte[] elf = File.ReadAllBytes(path);
            var offsets = FindVernauxFlagOffsets(elf, version, out bool allWeak);
            if (offsets.Length == 0) return Result.NotNeeded;
            if (allWeak) return Result.AlreadyWeak;
            foreach (int off in offsets)
            {
                ushort flags = BitConverter.ToUInt16(elf, off);
                BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, off);
            }
            string tmp = path + ".weak-tmp";
            File.WriteAllBytes(tmp, elf);
            File.Copy(tmp, path, true);   // netstandard2.0 (the inline task's target) has no File.Move overwrite
            File.Delete(tmp);
            return Result.Patched;
        }

        /// <summary>The vna_flags offsets of the Vernaux entries named <paramref name="version"/>.</summary>
        public static int[] FindVernauxFlagOffsets(byte[] elf, string version, out bool allWeak)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("only ELF64 little-endian is supported");
            long shoff = BitConverter.ToInt64(elf, 0x28);
            int shentsize = BitConverter.ToUInt16(elf, 0x3A);
            int shnum = BitConverter.ToUInt16(elf, 0x3C);
            var found = new System.Collections.Generic.List<int>();
            allWeak = true;
            for (int i = 0; i < shnum; i++)
            {
                int sh = checked((int)(shoff + (long)i * shentsize));
                if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
                int secOff = checked((int)BitConverter.ToInt64(elf, sh + 0x18));
                int link = (int)BitConverter.ToUInt32(elf, sh + 0x28);          // index of .dynstr
                int strSh = checked((int)(shoff + (long)link * shentsize));
                int strOff = checked((int)BitConverter.ToInt64(elf, strSh + 0x18));
                int vn = secOff;
                while (true)
                {
                    int cnt = BitConverter.ToUInt16(elf, vn + 2);
                    int aux = vn + (int)BitConverter.ToUInt32(elf, vn + 8);
                    for (int k = 0; k < cnt; k++)
                    {
                        string name = ReadCString(elf, strOff + (int)BitConverter.ToUInt32(elf, aux + 8));
                        if (name == version)
                        {
                            found.Add(aux + 4);
                            if ((BitConverter.ToUInt16(elf, aux + 4) & VerFlgWeak) == 0) allWeak = false;
                        }
                        uint nextAux = BitConverter.ToUInt32(elf, aux + 12);
                        if (nextAux == 0) break;
                        aux += (int)nextAux;
                    }
                    uint next = BitConverter.ToUInt32(elf, vn + 12);
                    if (next == 0) break;
                    vn += (int)next;
                }
            }
            return found.ToArray();
        }

        /// <summary>True when the libstdc++ the dynamic loader would pick already defines <paramref name="version"/>.</summary>
        public static bool SystemLibstdcxxHas(string version)
        {
            string[] candidates =
            {
                "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
                "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6", "/lib64/libstdc++.so.6",
            };
            foreach (string c in candidates)
            {
                if (!File.Exists(c)) continue;
                return Contains(File.ReadAllBytes(c), Encoding.ASCII.GetBytes(version + "\0"));
            }
            return false;
        }

        private static bool Contains(byte[] haystack, byte[] needle)
        {
            for (int i = Array.IndexOf(haystack, needle[0]); i >= 0 && i <= haystack.Length - needle.Length;
                 i = Array.IndexOf(haystack, needle[0], i + 1))
            {
                int k = 1;
                while (k < needle.Length && haystack[i + k] == needle[k]) k++;
                if (k == needle.Length) return true;
            }
            return false;
        }

        private static string ReadCString(byte[] b, int off)
        {
            int end = Array.IndexOf(b, (byte)0, off);
            return Encoding.ASCII.GetString(b, off, end - off);
        }
    }

#if !T2V_NO_MSBUILD_TASK
    /// <summary>MSBuild task: weakens the GLIBCXX need of every libLibTorchSharp.so under the given folders, unless the
    /// system libstdc++ already provides the version (then the files stay byte-identical to the package's).</summary>
    public sealed class WeakenGlibcxxNeed : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required] public string[] Directories { get; set; } = Array.Empty<string>();
        public string Version { get; set; } = "GLIBCXX_3.4.32";

        public override bool Execute()
        {
            if (!System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux)) return true;
            if (ElfVersionNeedPatcher.SystemLibstdcxxHas(Version))
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, $"system libstdc++ has {Version}: nothing to patch");
                return true;
            }
            foreach (string dir in Directories)
            {
                string file = Path.Combine(dir, "libLibTorchSharp.so");
                if (!File.Exists(file)) continue;
                var r = ElfVersionNeedPatcher.MarkWeak(file, Version);
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, $"{file}: {Version} need {r}");
            }
            return true;
        }
    }
#endif
}

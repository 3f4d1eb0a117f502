package csharpclient_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/internal/testkit/monotest"
)

// unityStub stands in for the parts of UnityEngine the README's example
// uses, so that mcs can check the example against the client's API.
const unityStub = `namespace UnityEngine {
    public class MonoBehaviour { }
    public static class Debug { public static void Log(object message) { System.Console.WriteLine(message); } }
}
`

// TestReadmeUnityExampleCompiles: the Unity component in README.md
// compiles against the client (with a stand-in for UnityEngine), so the
// how-to does not drift from the API.
func TestReadmeUnityExampleCompiles(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var example string
	for _, block := range strings.Split(string(b), "```csharp\n")[1:] {
		code, _, _ := strings.Cut(block, "```")
		if strings.Contains(code, "MonoBehaviour") {
			example = code
		}
	}
	if example == "" {
		t.Fatal("README.md has no Unity example (a csharp block with a MonoBehaviour)")
	}
	dir := monotest.TempDir(t)
	lib := monotest.Library(t, ".", dir)
	src := filepath.Join(dir, "Net.cs")
	if err := os.WriteFile(src, []byte(example+unityStub), 0o644); err != nil {
		t.Fatal(err)
	}
	monotest.Compile(t, filepath.Join(dir, "Net.dll"), []string{lib}, src)
}

package samtemplate

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// AppImport is the import path of the package whose functions read the
// hub's settings from the environment.
const AppImport = "github.com/monsys/hub/internal/app"

// pkgEnv is what a scan of one package finds: for each top-level function
// (methods as Type.Method), the environment variables it reads directly and
// the package functions it calls.
type pkgEnv struct {
	consts map[string]string              // string constants of the package
	reads  map[string]map[string]struct{} // func → env names read
	calls  map[string]map[string]struct{} // func → package funcs called
}

// EnvScanner finds the environment variables that code reads: string
// literals and constants passed to os.Getenv or to a getenv parameter, and,
// through calls into internal/app, what those functions read in turn.
type EnvScanner struct {
	Root string // repository root
	app  *pkgEnv
}

// isEnvName is the shape of a variable the hub reads.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func parseDir(dir string) (*token.FileSet, []*ast.File, error) {
	fset := token.NewFileSet()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var files []*ast.File
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, 0)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no Go files in %s", dir)
	}
	return fset, files, nil
}

func funcKey(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// isGetenvCall reports whether call reads the environment: os.Getenv(x),
// os.LookupEnv(x), or a call of a function-typed value named getenv/Getenv.
func isGetenvCall(call *ast.CallExpr) bool {
	switch f := call.Fun.(type) {
	case *ast.SelectorExpr:
		if id, ok := f.X.(*ast.Ident); ok && id.Name == "os" && (f.Sel.Name == "Getenv" || f.Sel.Name == "LookupEnv") {
			return true
		}
		return strings.EqualFold(f.Sel.Name, "getenv")
	case *ast.Ident:
		return strings.EqualFold(f.Name, "getenv")
	}
	return false
}

func scanPkg(dir string) (*pkgEnv, error) {
	_, files, err := parseDir(dir)
	if err != nil {
		return nil, err
	}
	p := &pkgEnv{consts: map[string]string{}, reads: map[string]map[string]struct{}{}, calls: map[string]map[string]struct{}{}}
	funcs := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								if v, err := strconv.Unquote(lit.Value); err == nil {
									p.consts[n.Name] = v
								}
							}
						}
					}
				}
			case *ast.FuncDecl:
				funcs[d.Name.Name] = true
			}
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			k := funcKey(fd)
			reads, calls := map[string]struct{}{}, map[string]struct{}{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if id, ok := call.Fun.(*ast.Ident); ok && funcs[id.Name] {
					calls[id.Name] = struct{}{}
				}
				if isGetenvCall(call) && len(call.Args) == 1 {
					if v := p.value(call.Args[0]); isEnvName(v) {
						reads[v] = struct{}{}
					}
				}
				return true
			})
			// FromEnv-style helpers read through loops over name lists: any
			// Env* constant mentioned in a function that calls getenv counts.
			if usesGetenv(fd) {
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					if id, ok := n.(*ast.Ident); ok && strings.HasPrefix(id.Name, "Env") {
						if v, ok := p.consts[id.Name]; ok && isEnvName(v) {
							reads[v] = struct{}{}
						}
					}
					return true
				})
			}
			p.reads[k], p.calls[k] = reads, calls
		}
	}
	return p, nil
}

func usesGetenv(fd *ast.FuncDecl) bool {
	found := false
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok && isGetenvCall(call) {
			found = true
		}
		return !found
	})
	return found
}

func (p *pkgEnv) value(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			v, _ := strconv.Unquote(x.Value)
			return v
		}
	case *ast.Ident:
		return p.consts[x.Name]
	}
	return ""
}

// closure returns every env var fn reads, directly or through the package
// functions it calls.
func (p *pkgEnv) closure(fn string) map[string]struct{} {
	out, seen := map[string]struct{}{}, map[string]bool{}
	var walk func(string)
	walk = func(f string) {
		if seen[f] {
			return
		}
		seen[f] = true
		for v := range p.reads[f] {
			out[v] = struct{}{}
		}
		for c := range p.calls[f] {
			walk(c)
		}
	}
	walk(fn)
	return out
}

// AppEnv returns every variable internal/app reads anywhere, and its
// exported Env* constants.
func (s *EnvScanner) AppEnv() (all []string, err error) {
	if err := s.loadApp(); err != nil {
		return nil, err
	}
	set := map[string]struct{}{}
	for _, r := range s.app.reads {
		for v := range r {
			set[v] = struct{}{}
		}
	}
	for name, v := range s.app.consts {
		if strings.HasPrefix(name, "Env") && isEnvName(v) {
			set[v] = struct{}{}
		}
	}
	return sorted(set), nil
}

func (s *EnvScanner) loadApp() error {
	if s.app != nil {
		return nil
	}
	w, err := scanPkg(filepath.Join(s.Root, "internal", "app"))
	if err != nil {
		return fmt.Errorf("scan internal/app: %w", err)
	}
	s.app = w
	return nil
}

// FunctionEnv returns the variables the function main in dir reads: its own
// os.Getenv calls and what the internal/app functions it calls read.
func (s *EnvScanner) FunctionEnv(dir string) ([]string, error) {
	if err := s.loadApp(); err != nil {
		return nil, err
	}
	_, files, err := parseDir(dir)
	if err != nil {
		return nil, err
	}
	own, err := scanPkg(dir)
	if err != nil {
		return nil, err
	}
	set := map[string]struct{}{}
	for _, r := range own.reads {
		for v := range r {
			set[v] = struct{}{}
		}
	}
	for _, f := range files {
		appName := ""
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == AppImport {
				appName = "app"
				if imp.Name != nil {
					appName = imp.Name.Name
				}
			}
		}
		if appName == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == appName {
				if v, ok := s.app.consts[sel.Sel.Name]; ok && isEnvName(v) {
					// app.EnvX passed to os.Getenv in the main is counted by
					// the main's own scan only if it is a literal; count it here.
					if parentReadsEnv(f, sel) {
						set[v] = struct{}{}
					}
				}
				for v := range s.app.closure(sel.Sel.Name) {
					set[v] = struct{}{}
				}
			}
			return true
		})
	}
	return sorted(set), nil
}

// parentReadsEnv reports whether sel is the argument of a getenv call in f.
func parentReadsEnv(f *ast.File, sel *ast.SelectorExpr) bool {
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok && isGetenvCall(call) && len(call.Args) == 1 && call.Args[0] == sel {
			found = true
		}
		return !found
	})
	return found
}

func sorted(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

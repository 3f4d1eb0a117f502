// Chat: the chatroom demo's terminal client (examples/chatroom_demo), in
// C# with the goworld C# client. It is also how a Unity game uses the
// client: connect once, register handlers, Poll() every frame (here a
// loop that stands for Update), Close() at the end.
//
//   mcs -langversion:7 -out:Chat.exe examples/Chat.cs GoWorld.*.cs
//   mono Chat.exe -gate 127.0.0.1:14001 -user alice -password secret [-register] [-room lobby] [-kcp]
//
// -gate ws://127.0.0.1:14002/ connects over WebSocket, -kcp over KCP (UDP
// to the same port number as TCP). It logs in (with
// -register, it creates the account first), joins the room, prints
// "logged in as NAME" and "joined ROOM", says each line of standard input
// to the room, understands "/join ROOM", "/who" (a request: "[ROOM]
// members: NAME, NAME") and "/quit", and prints every message of its room
// as "[ROOM] NAME: TEXT". At the end of its input it leaves once its /who
// are answered. A refused login exits with status 1, a lost connection
// with status 2. It asks for a resumable session: when the network drops
// for a moment it prints "reconnecting…" on standard error, takes the
// session up again ("reconnected"), and nothing said either way is lost
// or repeated; if the gate no longer holds the session, it exits with
// status 2 (the Go demo client logs in again instead).

using System;
using System.Collections.Generic;
using System.Threading;
using GoWorld;

static class Chat
{
    static int Main(string[] args)
    {
        string gate = "127.0.0.1:14001", user = null, password = null, room = "lobby";
        bool register = false, kcp = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-gate": gate = args[++i]; break;
                case "-user": user = args[++i]; break;
                case "-password": password = args[++i]; break;
                case "-room": room = args[++i]; break;
                case "-register": register = true; break;
                case "-kcp": kcp = true; break;
                default: Console.Error.WriteLine("unknown argument " + args[i]); return 1;
            }
        }
        if (user == null || password == null)
        {
            Console.Error.WriteLine("usage: Chat.exe -gate HOST:PORT|ws://HOST:PORT/ -user NAME -password PASSWORD [-register] [-room ROOM] [-kcp]");
            return 1;
        }

        GoWorldClient client;
        try
        {
            // A resumable session: a network blip costs nothing (protocol.md 8.1).
            var options = new ClientOptions { Resume = true };
            if (gate.StartsWith("ws://") || gate.StartsWith("wss://")) client = GoWorldClient.ConnectWebSocket(gate, options);
            else
            {
                int colon = gate.LastIndexOf(':');
                string host = gate.Substring(0, colon);
                int port = int.Parse(gate.Substring(colon + 1));
                client = kcp ? GoWorldClient.ConnectKcp(host, port, options) : GoWorldClient.ConnectTcp(host, port, options);
            }
        }
        catch (Exception e)
        {
            Console.WriteLine("cannot connect: " + e.Message);
            return 2;
        }

        int exit = -1;
        bool loggedIn = false, asked = false;
        string current = null;
        int whoWaiting = 0;

        // The boot entity (an Account) becomes the player: log in on it.
        client.EntityCreated += e =>
        {
            if (e.IsPlayer && e.Type == "Account" && !asked)
            {
                asked = true;
                client.Call(e.Id, register ? "Register" : "Login", user, password);
            }
        };
        client.On("OnLoginFailed", c => { Console.WriteLine("login failed: " + c.Args[0]); exit = 1; });
        client.On("OnLogin", c =>
        {
            Console.WriteLine("logged in as " + c.Args[0]);
            loggedIn = true;
            client.CallPlayer("JoinRoom", room);
        });
        client.On("OnJoined", c => { current = (string)c.Args[0]; Console.WriteLine("joined " + current); });
        // Chat lines are broadcasts to the room (a zero entity ID: for the player).
        client.On("OnChat", c => Console.WriteLine("[" + c.Args[0] + "] " + c.Args[1] + ": " + c.Args[2]));
        client.On("OnEntered", c => Console.WriteLine("[" + c.Args[0] + "] " + c.Args[1] + " entered"));
        client.On("OnLeft", c => Console.WriteLine("[" + c.Args[0] + "] " + c.Args[1] + " left"));
        client.On("OnError", c => Console.WriteLine("error: " + c.Args[0]));
        client.UnhandledCall += c => { }; // OnMembers, OnMail...: not shown by this example
        client.Reconnecting += why => Console.Error.WriteLine("reconnecting… (" + why + ")");
        client.Reconnected += () => Console.Error.WriteLine("reconnected");
        client.Disconnected += why => { Console.WriteLine("disconnected: " + why); if (exit < 0) exit = 2; };

        // Standard input is read on a thread of its own; lines go to the
        // main loop through a queue, as a game's UI would hand them over.
        var lines = new Queue<string>();
        bool inputDone = false;
        var input = new Thread(() =>
        {
            string l;
            while ((l = Console.In.ReadLine()) != null) lock (lines) lines.Enqueue(l);
            lock (lines) inputDone = true;
        }) { IsBackground = true };
        input.Start();

        bool quitting = false;
        while (exit < 0)
        {
            client.Poll(); // Unity: in Update()
            if (loggedIn && current != null)
            {
                while (true)
                {
                    string line;
                    lock (lines)
                    {
                        if (lines.Count == 0) { if (inputDone) quitting = true; break; }
                        line = lines.Dequeue();
                    }
                    if (line == "/quit") { quitting = true; break; }
                    if (line.StartsWith("/join ")) client.CallPlayer("JoinRoom", line.Substring(6).Trim());
                    else if (line == "/who")
                    {
                        whoWaiting++;
                        client.RequestPlayer("Who", null, r =>
                        {
                            whoWaiting--;
                            if (!r.Ok) { Console.WriteLine("error: " + r.Message); return; }
                            var m = (Dictionary<string, object>)r.Result;
                            var names = new List<string>();
                            foreach (object n in (List<object>)m["members"]) names.Add((string)n);
                            Console.WriteLine("[" + m["room"] + "] members: " + string.Join(", ", names));
                        });
                    }
                    else if (line.StartsWith("//")) client.CallPlayer("Say", line.Substring(1));
                    else if (line.StartsWith("/")) Console.WriteLine("error: unknown command " + line);
                    else if (line.Length > 0) client.CallPlayer("Say", line);
                }
            }
            if (quitting && whoWaiting == 0)
            {
                client.Close();
                client.Poll(); // delivers the Disconnected event
                return 0;
            }
            Thread.Sleep(10); // a frame
        }
        client.Close();
        return exit;
    }
}
